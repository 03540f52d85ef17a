# /// script
# dependencies = ["torch"]
#
# [[tool.uv.index]]
# name = "pytorch"
# ///
