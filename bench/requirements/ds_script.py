# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "numpy",
#     "pandas",
#     "matplotlib",
#     "scikit-learn",
#     "httpx",
#     "rich",
# ]
# ///
print("ok")
