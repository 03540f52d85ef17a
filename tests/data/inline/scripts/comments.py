# A script with a busy block: comments, blank comment lines, tool tables and
# another (non-script) block type that readers must ignore.
#
# /// notes
# This block is free text; its type is not `script`.
# ///

# /// script
# # The Python versions this runs on.
# requires-python = ">=3.11,<3.14"
#
# dependencies = [
#   # resolution-critical
#   "torch>=2.3",       # GPU build comes from the index below
#   "numpy ; python_version >= '3.12'",
#   "pillow[avif]",
# ]
#
# [tool.uv]
# exclude-newer = "2025-06-01T00:00:00Z"
#
# [[tool.uv.index]]
# name = "pytorch-cu124"
# url = "http://127.0.0.1:9/whl/cu124"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch-cu124" }
#
# [tool.pyx]
# variant = "cu124"
# ///

import torch

print(torch.cuda.is_available())
