"""engine.members: members read by position and inflated, checked as strictly as zipfile does."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from pyx_server.engine.install import members
from pyx_server.engine.install.members import PIECE, MemberReader, ViewFile


def read(reader: MemberReader, info: zipfile.ZipInfo, **kw) -> bytes:
    return b"".join(bytes(piece) for piece in reader.pieces(info, **kw))


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """Both inflaters: ISA-L where python-isal is installed, and the zlib fallback."""
    if request.param == "isal":
        isal_zlib = pytest.importorskip("isal.isal_zlib")
        monkeypatch.setattr(members, "_inflater", isal_zlib)
        monkeypatch.setattr(members, "_INFLATE_ERRORS", (zlib.error, isal_zlib.error))
    else:
        monkeypatch.setattr(members, "_inflater", zlib)
        monkeypatch.setattr(members, "_INFLATE_ERRORS", (zlib.error,))
    return request.param


CONTENTS = {
    "pkg/__init__.py": b"",
    "pkg/small.py": b"VALUE = 1\n",
    "pkg/text.txt": b"all work and no play\n" * 5000,
    "pkg/random.bin": os.urandom(300_000),
    "pkg/caf\u00e9.py": "NAME = 'caf\u00e9'\n".encode(),
}


def make_zip(path: Path, compression: int = zipfile.ZIP_DEFLATED, contents=CONTENTS) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED], ids=["deflated", "stored"])
@pytest.mark.parametrize("in_memory", [False, True], ids=["path", "bytes"])
def test_members_read_in_pieces_as_zipfile_reads_them(inflater, tmp_path, compression, in_memory):
    path = make_zip(tmp_path / "w.zip", compression)
    source = ViewFile(bytearray(path.read_bytes())) if in_memory else path
    with zipfile.ZipFile(path) as zf, MemberReader(source, zf) as reader:
        for info in zf.infolist():
            assert read(reader, info) == CONTENTS[info.filename]
            assert all(len(piece) <= PIECE for piece in reader.pieces(info))
        assert len([bytes(p) for p in reader.pieces(zf.getinfo("pkg/random.bin"))]) == 2  # 300,000 bytes


def test_other_compression_methods_go_through_zipfile(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip", zipfile.ZIP_BZIP2)
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        assert read(reader, zf.getinfo("pkg/text.txt")) == CONTENTS["pkg/text.txt"]


def _flip_byte_in_data(path: Path, name: str) -> None:
    """Change one byte inside a stored member's data: its CRC no longer matches."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(path.read_bytes())
    n, m = struct.unpack_from("<HH", raw, info.header_offset + 26)
    raw[info.header_offset + 30 + n + m + 5] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_damaged_member_fails_its_crc_unless_the_caller_checks_a_stronger_hash(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip", zipfile.ZIP_STORED)
    _flip_byte_in_data(path, "pkg/text.txt")
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        info = zf.getinfo("pkg/text.txt")
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            read(reader, info)
        damaged = read(reader, info, check_crc=False)  # what a RECORD hash check then refuses
        assert damaged != CONTENTS["pkg/text.txt"] and len(damaged) == info.file_size


def test_a_member_inflating_past_its_declared_size_is_refused(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        info = zf.getinfo("pkg/text.txt")
        info.file_size = 1000  # the directory lies: the data inflates to 105,000 bytes
        with pytest.raises(zipfile.BadZipFile, match="more than 1000"):
            read(reader, info)


def test_garbage_in_place_of_deflate_data_is_a_bad_zip(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("pkg/text.txt")
    raw = bytearray(path.read_bytes())
    n, m = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + n + m
    raw[start : start + 40] = b"\xff" * 40
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        with pytest.raises(zipfile.BadZipFile, match="pkg/text.txt"):
            read(reader, zf.getinfo("pkg/text.txt"))


def test_a_local_header_naming_another_file_is_refused(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("pkg/small.py")
    raw = path.read_bytes()
    name_at = info.header_offset + 30
    assert raw[name_at : name_at + len(b"pkg/small.py")] == b"pkg/small.py"
    path.write_bytes(raw[:name_at] + b"pkg/evil.py!" + raw[name_at + 12 :])
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        with pytest.raises(zipfile.BadZipFile, match="another name"):
            read(reader, zf.getinfo("pkg/small.py"))


def test_a_truncated_archive_is_an_error_not_short_content(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip", zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("pkg/random.bin")
    with zipfile.ZipFile(path) as zf, MemberReader(ViewFile(path.read_bytes()[: info.header_offset + 1000]), zf) as reader:
        with pytest.raises(EOFError):
            read(reader, info)


def test_encrypted_members_are_refused(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        info = zf.getinfo("pkg/small.py")
        info.flag_bits |= 0x1
        with pytest.raises(zipfile.BadZipFile, match="encrypted"):
            read(reader, info)


def test_a_stream_cut_before_its_end_is_refused(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        info = zf.getinfo("pkg/text.txt")
        info.compress_size -= 2  # the last bytes of the deflate stream are not read
        with pytest.raises(zipfile.BadZipFile):
            read(reader, info)


def test_a_member_smaller_than_declared_is_refused(inflater, tmp_path):
    path = make_zip(tmp_path / "w.zip")
    with zipfile.ZipFile(path) as zf, MemberReader(path, zf) as reader:
        info = zf.getinfo("pkg/small.py")
        info.file_size += 5
        with pytest.raises(zipfile.BadZipFile, match="not 15"):
            read(reader, info)


def test_a_view_file_reads_and_seeks_like_a_file_without_copying(tmp_path):
    data = bytearray(b"0123456789")
    f = ViewFile(data)
    assert f.read(3) == b"012" and f.tell() == 3
    assert f.seek(-2, io.SEEK_END) == 8 and f.read() == b"89"
    assert f.seek(20) == 20 and f.read(5) == b""
    f.seek(2, io.SEEK_SET)
    f.seek(3, io.SEEK_CUR)
    assert f.read(1) == b"5"
    with pytest.raises(ValueError):
        f.seek(-1)
    data[0:1] = b"X"  # the file shows the buffer itself, not a copy of it
    f.seek(0)
    assert f.read(1) == b"X"


def test_a_wheel_in_memory_unpacks_as_the_same_wheel_on_disk(tmp_path):
    from pyx_server.engine.install.wheel import unpack_wheel
    from tests.support.wheels import build_wheel

    wheel = build_wheel(tmp_path / "dist", "demo", "1.0", files={"demo/__init__.py": "X = 1\n", "demo/data.bin": os.urandom(70_000)})
    for name in ("from-path", "from-bytes", "from-file-object"):
        (tmp_path / name).mkdir()  # unpack_wheel fills an empty directory
    unpack_wheel(wheel, tmp_path / "from-path")
    unpack_wheel(bytearray(wheel.read_bytes()), tmp_path / "from-bytes", label=wheel.name)
    unpack_wheel(io.BytesIO(wheel.read_bytes()), tmp_path / "from-file-object", label=wheel.name)
    listing = {p.relative_to(tmp_path / "from-path"): p.read_bytes() for p in (tmp_path / "from-path").rglob("*") if p.is_file()}
    for other in ("from-bytes", "from-file-object"):
        assert {p.relative_to(tmp_path / other): p.read_bytes() for p in (tmp_path / other).rglob("*") if p.is_file()} == listing
