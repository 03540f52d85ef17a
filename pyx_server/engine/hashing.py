"""File digests, written once: the sha256 of a file read in chunks, for any size of file.

Ground floor: imports nothing from the engine. Archives (sdists, wheels) are hashed to key
caches and to check them against what an index or a lock lists; reading them whole would
hold a large wheel in memory for nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: bytes read at once: large enough that hashing, not the reads, sets the pace
CHUNK = 1 << 20


def sha256_file(path: Path | str) -> str:
    """The sha256 hex digest of the file at ``path`` (``OSError`` when it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
