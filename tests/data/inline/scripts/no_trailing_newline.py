import sys

print(sys.version)
# /// script
# dependencies = ["packaging"]
# ///