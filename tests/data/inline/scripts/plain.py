# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "httpx>=0.27",
#     "rich",
# ]
# ///

import httpx
from rich.pretty import pprint

resp = httpx.get("http://127.0.0.1:8000/api/items.json")
pprint(resp.json())
