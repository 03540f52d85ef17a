# /// script
# requires-python = ">=3.9"
# dependencies = [
#     "requests<3",
# ]
# ///

import requests

print(requests.__version__)
