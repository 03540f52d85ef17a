"""The `pyx` command line (placeholder until the engine's operations land)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("pyx: not yet", file=sys.stderr)
    return 2
