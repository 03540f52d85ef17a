"""Pure: find and read one member of a remote zip from byte ranges (the tail, then the member).

A wheel's central directory sits at its end; its End Of Central Directory record says where
the directory starts. From the tail of the file (64 KiB covers nearly every wheel) this module
finds the ``*.dist-info/METADATA`` entry, says which byte span of the file holds it, and
inflates it from that span. ZIP64 archives and anything unusual raise ``RangeUnsupported``,
and the caller downloads the whole wheel instead.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"


class RangeUnsupported(Exception):
    """The archive cannot be read by ranges (ZIP64, odd layout): download it whole."""


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    compressed_size: int
    uncompressed_size: int
    local_header_offset: int


async def find_member(
    tail: bytes, total: int, file, get_range: Callable[..., Awaitable[tuple[int, bytes, int | None]]]
) -> ZipEntry:
    """The top-level ``.dist-info/METADATA`` entry of the zip whose last bytes are ``tail``."""
    position = tail.rfind(_EOCD)
    if position < 0 or len(tail) - position < 22:
        raise RangeUnsupported("no end-of-central-directory record in the tail")
    (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4sHHHHIIH", tail[position : position + 22])
    if cd_offset == 0xFFFFFFFF or count == 0xFFFF:
        raise RangeUnsupported("ZIP64")
    tail_start = total - len(tail)
    if cd_offset >= tail_start:
        directory = tail[cd_offset - tail_start : cd_offset - tail_start + cd_size]
    else:
        _, directory, _ = await get_range(file.url, cd_offset, cd_offset + cd_size - 1)
    entries = _central_entries(directory, count)
    found = [e for e in entries if e.name.count("/") == 1 and e.name.endswith(".dist-info/METADATA")]
    if len(found) != 1:
        raise RangeUnsupported("no single .dist-info/METADATA")
    return found[0]


def member_span(entry: ZipEntry) -> tuple[int, int]:
    """The inclusive byte range holding the member's local header and data (with slack for
    a local extra field longer than the central one)."""
    start = entry.local_header_offset
    return start, start + 30 + len(entry.name.encode()) + 1024 + entry.compressed_size


def read_member(chunk: bytes, entry: ZipEntry) -> bytes:
    """The member's content, from the bytes starting at its local header."""
    if chunk[:4] != _LOCAL or len(chunk) < 30:
        raise RangeUnsupported("no local header where the directory says")
    name_length, extra_length = struct.unpack("<HH", chunk[26:30])
    start = 30 + name_length + extra_length
    data = chunk[start : start + entry.compressed_size]
    if len(data) != entry.compressed_size:
        raise RangeUnsupported("short read")
    if entry.method == 0:
        content = data
    elif entry.method == 8:
        content = zlib.decompressobj(-15).decompress(data)
    else:
        raise RangeUnsupported(f"compression method {entry.method}")
    if len(content) != entry.uncompressed_size:
        raise RangeUnsupported("size mismatch")
    return content


def _central_entries(directory: bytes, count: int) -> list[ZipEntry]:
    entries = []
    offset = 0
    for _ in range(count):
        if directory[offset : offset + 4] != _CENTRAL:
            raise RangeUnsupported("bad central directory")
        fields = struct.unpack("<4sHHHHHHIIIHHHHHII", directory[offset : offset + 46])
        method, compressed, uncompressed = fields[4], fields[8], fields[9]
        name_length, extra_length, comment_length, local_offset = fields[10], fields[11], fields[12], fields[16]
        name = directory[offset + 46 : offset + 46 + name_length].decode("utf-8", "replace")
        if 0xFFFFFFFF in (compressed, uncompressed, local_offset):
            raise RangeUnsupported("ZIP64 entry")
        entries.append(ZipEntry(name, method, compressed, uncompressed, local_offset))
        offset += 46 + name_length + extra_length + comment_length
    return entries
