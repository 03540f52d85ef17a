# /// script
# dependencies = [
#     "numpy",
#     "scipy>>1.0",
# ]
# ///
