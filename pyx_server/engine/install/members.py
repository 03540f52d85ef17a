"""Reads a wheel's members straight from the archive, inflated by the fastest inflater at hand.

``zipfile`` builds a ``ZipExtFile`` per member and inflates with the standard zlib. For a cold
install of the data-science set (8,000 members, 335 MB inflated) that is over a second of CPU,
the largest part of unpacking. Here ``zipfile`` still reads the central directory (its
``ZipInfo`` records say where each member is); a member's bytes are then two positional reads
(its local header, then its data in pieces), inflated by python-isal (Intel's ISA-L: about twice zlib's speed
here, and it lets go of the GIL) when it is installed, else by zlib.

Stored and deflated members are read here (every wheel in practice); any other method goes
through ``zipfile``. Every structural problem is a ``zipfile.BadZipFile``, as ``zipfile``
would raise it, so callers handle one exception either way.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

try:  # optional: wheels exist for the common platforms (see pyproject.toml)
    from isal import isal_zlib as _inflater
except ImportError:  # pragma: no cover - exercised where python-isal is absent
    _inflater = zlib

#: the module that inflates (``isal.isal_zlib`` or ``zlib``): the same API
INFLATER = _inflater
_INFLATE_ERRORS = (zlib.error, _inflater.error)
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature … name length, extra length: 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x1
_UTF8_NAME = 0x800
#: the most a piece of a member holds (see ``MemberReader.pieces``)
PIECE = 256 << 10
#: compressed bytes read at a time
_READ = 256 << 10


class ViewFile(io.RawIOBase):
    """A read-only file over a wheel held in memory (bytes, bytearray, memoryview), copying
    nothing: ``io.BytesIO`` copies a bytearray whole, and ``getbuffer`` copies shared bytes,
    where a download held in memory is tens of MB (three copies of scipy's 35 MB were 0.15 s
    of the event loop's time and more of the unpacking threads')."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        super().__init__()
        self.view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self.view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        start = min(self._position, len(self.view))
        size = min(len(buffer), len(self.view) - start)
        buffer[:size] = self.view[start : start + size]
        self._position = start + size
        return size


class MemberReader:
    """Reads of members of one archive by position: a path (a file of its own, so threads may
    each have a reader) or a wheel in memory (``ViewFile``). ``zf`` is the ``ZipFile`` the
    ``ZipInfo`` records come from, used for unusual compression methods."""

    def __init__(self, source: Path | ViewFile, zf: zipfile.ZipFile) -> None:
        self._zf = zf
        self._file: io.FileIO | None = None
        self._view: memoryview | None = None
        if isinstance(source, ViewFile):
            self._view = source.view
        else:
            self._file = io.FileIO(source, "r")
            self._buffer = memoryview(bytearray(_READ))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._view = None  # the view belongs to the ViewFile

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, offset: int, size: int) -> bytes:
        if self._file is not None:
            self._file.seek(offset)
            data = self._file.read(size)
        else:
            assert self._view is not None
            data = bytes(self._view[offset : offset + size])
        if len(data) != size:
            raise EOFError(f"the archive ends {size - len(data)} bytes early")
        return data

    def _read_into_buffer(self, offset: int, size: int) -> memoryview:
        """``size`` bytes at ``offset``, valid until the next call: read into one reused buffer
        (or a slice of the in-memory archive), so no fresh memory is touched per member."""
        if self._file is None:
            assert self._view is not None
            if offset + size > len(self._view):
                raise EOFError(f"the archive ends {offset + size - len(self._view)} bytes early")
            return self._view[offset : offset + size]
        view = self._buffer[:size]
        self._file.seek(offset)
        got = self._file.readinto(view)
        if got != size:
            raise EOFError(f"the archive ends {size - got} bytes early")
        return view

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where the member's data starts, after checking its local header against ``info``."""
        if info.flag_bits & _ENCRYPTED:
            raise zipfile.BadZipFile(f"`{info.filename}` is encrypted")
        name = info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_NAME else "cp437")
        head = self._read(info.header_offset, _LOCAL_HEADER.size + len(name))
        fields = _LOCAL_HEADER.unpack_from(head)
        if fields[0] != _LOCAL_SIGNATURE:
            raise zipfile.BadZipFile(f"bad local header for `{info.filename}`")
        name_length, extra_length = fields[-2], fields[-1]
        if name_length != len(name) or head[_LOCAL_HEADER.size :] != name:
            raise zipfile.BadZipFile(f"`{info.filename}` has another name in its local header")
        return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    def pieces(self, info: zipfile.ZipInfo, *, check_crc: bool = True) -> Iterator[bytes | memoryview]:
        """The member's content in pieces of at most ``PIECE`` bytes, each valid until the next.

        Small pieces written as they come stay in the CPU's cache and reuse the same memory:
        inflating whole members into fresh buffers cost a page fault per 4 KiB and a cold copy
        into the page cache (a third of a cold install's system time here). More bytes than
        ``info.file_size``, fewer, or a stream that does not end is ``BadZipFile``; so is a
        CRC-32 mismatch, unless ``check_crc=False`` (the caller checks a stronger hash).
        """
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            with self._zf.open(info) as member:  # zipfile checks its CRC-32
                while piece := member.read(PIECE):
                    yield piece
            return
        offset = self._data_offset(info)
        end = offset + info.compress_size
        inflate = _inflater.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        size, crc = 0, 0
        while offset < end:
            raw = self._read_into_buffer(offset, min(_READ, end - offset))
            offset += len(raw)
            for piece in (raw,) if inflate is None else _inflated(inflate, raw, info):
                size += len(piece)
                if size > info.file_size:
                    raise zipfile.BadZipFile(f"`{info.filename}` holds more than {info.file_size} bytes")
                if check_crc:
                    crc = _inflater.crc32(piece, crc)
                yield piece
        if inflate is not None and not inflate.eof:
            raise zipfile.BadZipFile(f"`{info.filename}` ends before its compressed stream does")
        if size != info.file_size:
            raise zipfile.BadZipFile(f"`{info.filename}` holds {size} bytes, not {info.file_size}")
        if check_crc and crc != info.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for `{info.filename}`")


def _inflated(inflate, raw: memoryview, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Everything ``raw`` inflates to, ``PIECE`` bytes at most at a time."""
    data: bytes | memoryview = raw
    while True:
        try:
            piece = inflate.decompress(data, PIECE)
        except _INFLATE_ERRORS as exc:
            raise zipfile.BadZipFile(f"`{info.filename}` does not inflate: {exc}") from exc
        if piece:
            yield piece
        # zlib leaves unread input in ``unconsumed_tail``; ISA-L keeps it inside and hands
        # out the rest on calls with no new input
        data = inflate.unconsumed_tail
        if len(piece) < PIECE and not data:
            return
