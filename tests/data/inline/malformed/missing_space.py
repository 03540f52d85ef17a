# /// script
#requires-python = ">=3.11"
# ///
print("the second line lacks the space after `#`, so the block never closes")
