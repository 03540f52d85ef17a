# /// script
# dependencies = [
#     "numpy",
#     { name = "scipy" },
# ]
# ///
