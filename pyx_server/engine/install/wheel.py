"""Wheel files: names (PEP 427/425, PEP 825 variant labels), member validation against zip-slip, unpacking into the cache.

A wheel is unpacked once, into a cache temporary directory that ``Cache.store_archive``
renames into ``archive-v1``; installs then link files out of that copy. So this module is the
one gate every archive passes through, and it is strict:

* every member name is checked *before anything is written*: absolute paths, drive letters,
  backslashes, ``..`` components, NUL bytes, symlink members, duplicates and file/directory
  clashes are refused (an escape is ``UnsafeWheel``, anything else malformed ``InvalidWheel``);
* there must be exactly one ``<name>-<version>.dist-info`` holding ``WHEEL`` (Wheel-Version
  1.x) and ``RECORD``;
* every file must be listed in ``RECORD`` with a strong hash (sha256 or better; ``.pyc``
  may go unhashed as the spec allows), and its content is checked against that hash while
  it is extracted.

Extraction streams members with ``zipfile`` and writes through raw file descriptors, creates
each directory once, and keeps the executable bit, because popular wheels hold thousands of
files and this runs on every cold install.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import Iterable
from typing import BinaryIO
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import InvalidWheel, UnsafeWheel

#: RECORD hash algorithms accepted ("sha256 or better"; md5 and sha1 are refused by the spec)
STRONG_HASHES = frozenset(
    {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"}
)
#: dist-info files that RECORD need not (or cannot) hash
_UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")
_DRIVE = re.compile(r"^[A-Za-z]:")
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class WheelName:
    """The parts of a wheel file name (PEP 427), as ``packaging`` reads them."""

    filename: str
    name: NormalizedName
    version: Version
    build: tuple
    tags: frozenset[Tag]


@dataclass(frozen=True)
class RecordEntry:
    """One row of a RECORD file: a ``/``-separated path, ``algo=digest`` (or None) and size."""

    path: str
    hash: str | None
    size: int | None


@dataclass(frozen=True)
class WheelInfo:
    """What a wheel's ``WHEEL`` file says: format version, purelib-ness of the root, tags."""

    wheel_version: tuple[int, ...]
    root_is_purelib: bool
    tags: tuple[str, ...]
    generator: str | None = None


def parse_wheel_name(filename: str) -> WheelName:
    """Split a wheel file name into name, version, build tag and tags, or raise ``InvalidWheel``."""
    try:
        name, version, build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion, ValueError) as exc:
        raise InvalidWheel(
            f"`{filename}` is not a valid wheel file name",
            detail=str(exc),
            hints=["wheel names look like `name-1.0-py3-none-any.whl` (PEP 427)"],
        ) from exc
    return WheelName(filename, name, version, build, tags)


#: PEP 825 variant label: the optional last component of a wheel file name (``null`` is the null variant)
VARIANT_LABEL = re.compile(r"^[0-9a-z_.]+$")


def split_variant_label(filename: str) -> tuple[str, str | None]:
    """``(file name without its PEP 825 variant label, label)``; ``(filename, None)`` for other names.

    A label is a seventh component after a build tag, or a sixth when the third component
    cannot be a build tag (a Python tag never starts with a digit, a build tag always does).
    Only the split is done here: whether the rest is a valid wheel name is for the caller to
    check (``packaging``), so a name is never half-accepted.
    """
    if not filename.endswith(".whl"):
        return filename, None
    parts = filename[:-4].split("-")
    if len(parts) == 7 or (len(parts) == 6 and not parts[2][:1].isdigit()):
        label = parts[-1]
        if VARIANT_LABEL.match(label):
            return "-".join(parts[:-1]) + ".whl", label
    return filename, None


def record_hash(data: bytes, algorithm: str = "sha256") -> str:
    """The RECORD form of a hash: ``sha256=<urlsafe base64 without padding>``."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_record(text: str, *, source: str = "RECORD") -> list[RecordEntry]:
    """Parse RECORD text (CSV rows ``path,hash,size``); ``source`` names it in errors."""
    entries: list[RecordEntry] = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidWheel(f"`{source}` is not valid CSV: {exc}") from exc
    for row in rows:
        if not row or not row[0]:
            continue
        if len(row) > 3:
            raise InvalidWheel(f"`{source}` has a malformed row `{','.join(row)}`")
        path = row[0]
        digest = row[1] if len(row) > 1 and row[1] else None
        size: int | None = None
        if len(row) > 2 and row[2]:
            try:
                size = int(row[2])
            except ValueError:
                raise InvalidWheel(f"`{source}` gives `{path}` the size `{row[2]}`") from None
        entries.append(RecordEntry(path, digest, size))
    return entries


def read_record(dist_info: Path) -> list[RecordEntry]:
    """The entries of ``<dist_info>/RECORD`` (an unpacked wheel's or an installed dist's)."""
    path = Path(dist_info) / "RECORD"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidWheel(f"cannot read `{path}`: {exc}") from exc
    return parse_record(text, source=str(path))


def parse_wheel_info(text: str, *, source: str = "WHEEL") -> WheelInfo:
    """Parse a ``WHEEL`` file; a Wheel-Version other than 1.x is refused (format we can't read)."""
    from email.parser import HeaderParser  # email costs 4 ms to import; a warm install never reads WHEEL

    headers = HeaderParser().parsestr(text)
    raw = headers.get("Wheel-Version")
    if raw is None:
        raise InvalidWheel(f"`{source}` has no Wheel-Version")
    try:
        version = tuple(int(part) for part in raw.strip().split("."))
    except ValueError:
        raise InvalidWheel(f"`{source}` has an unreadable Wheel-Version `{raw.strip()}`") from None
    if not version or version[0] != 1:
        raise InvalidWheel(
            f"`{source}` declares Wheel-Version `{raw.strip()}`; only 1.x is supported",
            hints=["the wheel was built for a newer installer format; use a wheel built for 1.x"],
        )
    purelib = (headers.get("Root-Is-Purelib") or "true").strip().lower() == "true"
    return WheelInfo(
        wheel_version=version,
        root_is_purelib=purelib,
        tags=tuple(t.strip() for t in headers.get_all("Tag") or ()),
        generator=(headers.get("Generator") or "").strip() or None,
    )


def read_wheel_info(dist_info: Path) -> WheelInfo:
    """The parsed ``WHEEL`` file of an unpacked wheel."""
    path = Path(dist_info) / "WHEEL"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidWheel(f"cannot read `{path}`: {exc}") from exc
    return parse_wheel_info(text, source=str(path))


def find_dist_info(root: Path, name: str | None = None) -> Path:
    """The single ``*.dist-info`` directory of an unpacked wheel (of project ``name`` if given)."""
    root = Path(root)
    try:
        candidates = [
            e.name for e in os.scandir(root) if e.name.endswith(".dist-info") and e.is_dir()
        ]
    except OSError as exc:
        raise InvalidWheel(f"cannot read the unpacked wheel `{root}`: {exc.strerror}") from exc
    if name is not None:
        wanted = canonicalize_name(name)
        candidates = [c for c in candidates if _dist_info_project(c) == wanted]
    if len(candidates) != 1:
        what = f" for `{name}`" if name else ""
        if not candidates:
            raise InvalidWheel(f"`{root}` has no .dist-info directory{what}")
        listed = ", ".join(f"`{c}`" for c in sorted(candidates))
        raise InvalidWheel(f"`{root}` has several .dist-info directories{what}: {listed}")
    return root / candidates[0]


def _dist_info_project(dirname: str) -> NormalizedName:
    """``foo_bar-1.0.dist-info`` -> ``foo-bar`` (the version is the part after the last ``-``)."""
    stem = dirname.rsplit(".", 1)[0]
    return canonicalize_name(stem.rsplit("-", 1)[0] if "-" in stem else stem)


# -- unpacking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    path: str  # normalized, "/"-separated, relative
    executable: bool


def _safe_path(name: str, wheel: str) -> str:
    """The normalized relative path of member ``name``, or ``UnsafeWheel`` if it could escape."""

    def unsafe(why: str) -> UnsafeWheel:
        return UnsafeWheel(
            f"wheel `{wheel}` has a member `{name}` that {why}",
            context={"wheel": wheel, "member": name},
            hints=["the wheel is corrupt or malicious; nothing was written"],
        )

    if "\x00" in name:
        raise unsafe("contains a NUL byte")
    if "\\" in name:
        raise unsafe("uses a backslash (a Windows path separator)")
    if name.startswith("/"):
        raise unsafe("is an absolute path")
    if _DRIVE.match(name):
        raise unsafe("starts with a drive letter")
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise unsafe("has a `..` component and would land outside the target")
    if not parts:
        raise InvalidWheel(f"wheel `{wheel}` has a member with an empty name `{name}`")
    return "/".join(parts)


def _scan(zf: zipfile.ZipFile, wheel: str) -> tuple[list[_Member], set[str]]:
    """Validate every member name; return the files and the directories to create."""
    files: list[_Member] = []
    seen: set[str] = set()
    dirs: set[str] = set()
    for info in zf.infolist():
        path = _safe_path(info.filename, wheel)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeWheel(
                f"wheel `{wheel}` has a member `{info.filename}` that is a symbolic link; "
                "links are refused because they can point outside the target",
                context={"wheel": wheel, "member": info.filename},
            )
        if path in seen:
            raise InvalidWheel(
                f"wheel `{wheel}` contains `{path}` more than once",
                context={"wheel": wheel, "member": info.filename},
            )
        seen.add(path)
        if info.is_dir():
            dirs.add(path)
        else:
            files.append(_Member(info, path, bool(mode & 0o111)))
        parent = path.rpartition("/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    clash = next((m.path for m in files if m.path in dirs), None)
    if clash is not None:
        raise InvalidWheel(f"wheel `{wheel}` has `{clash}` both as a file and as a directory")
    return files, dirs


def _expected_hashes(
    files: list[_Member], record: list[RecordEntry], dist_info: str, wheel: str
) -> dict[str, tuple[str, bytes, int | None] | None]:
    """Map each file to (algorithm, digest, size) from RECORD; refuse unlisted or weakly hashed files."""
    by_path: dict[str, RecordEntry] = {}
    for entry in record:
        parts = [p for p in entry.path.split("/") if p and p != "."]
        by_path["/".join(parts)] = entry
    unhashed = {f"{dist_info}/{n}" for n in _UNHASHED}
    expected: dict[str, tuple[str, bytes, int | None] | None] = {}
    for member in files:
        path = member.path
        if path in unhashed:
            expected[path] = None
            continue
        entry = by_path.get(path)
        if entry is None:
            raise InvalidWheel(
                f"wheel `{wheel}` has a file `{path}` that RECORD does not list",
                hints=["every file of a wheel must appear in its RECORD; rebuild the wheel"],
            )
        if entry.hash is None:
            if path.endswith(".pyc"):
                expected[path] = None
                continue
            raise InvalidWheel(f"wheel `{wheel}`: RECORD gives no hash for `{path}`")
        algorithm, sep, encoded = entry.hash.partition("=")
        if not sep or algorithm not in STRONG_HASHES:
            raise InvalidWheel(
                f"wheel `{wheel}`: RECORD hashes `{path}` with `{algorithm}`, which is not accepted",
                hints=["RECORD hashes must be sha256 or stronger"],
            )
        try:
            digest = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise InvalidWheel(f"wheel `{wheel}`: RECORD has a malformed hash for `{path}`") from None
        expected[path] = (algorithm, digest, entry.size)
    return expected


def unpack_wheel(wheel: Path | BinaryIO | bytes | bytearray, dest: Path, *, label: str | None = None) -> None:
    """Validate every member of ``wheel`` (a path, a file object, or the wheel's bytes), then
    extract it into the empty directory ``dest``.

    Nothing is written unless all member names are safe and the dist-info is well formed;
    file contents are checked against RECORD while extracting, so on ``InvalidWheel`` the
    caller discards ``dest`` (it is a cache temporary directory). Blocking: run it in a thread
    from async code.
    """
    import zipfile  # only unpacking needs it: imported here to keep start-up short

    from pyx_server.engine.install.members import ViewFile

    if isinstance(wheel, (str, os.PathLike)):
        wheel = Path(wheel)
        label = label or wheel.name
    elif isinstance(wheel, (bytes, bytearray, memoryview)):
        wheel = ViewFile(wheel)  # members are read by position (``members``), nothing copied
    else:
        wheel = ViewFile(wheel.getvalue() if isinstance(wheel, io.BytesIO) else wheel.read())
    label = label or "wheel"
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidWheel(f"`{label}` is not a readable wheel (zip) file", detail=str(exc)) from exc
    with zf:
        files, dirs = _scan(zf, label)
        dist_info = _check_dist_info(files, label)
        by_path = {m.path: m for m in files}
        for required in ("WHEEL", "RECORD"):
            if f"{dist_info}/{required}" not in by_path:
                raise InvalidWheel(f"wheel `{label}` has no `{dist_info}/{required}`")
        wheel_text = _read_text(zf, by_path[f"{dist_info}/WHEEL"], label)
        parse_wheel_info(wheel_text, source=f"{label}:{dist_info}/WHEEL")
        record_text = _read_text(zf, by_path[f"{dist_info}/RECORD"], label)
        record = parse_record(record_text, source=f"{label}:{dist_info}/RECORD")
        expected = _expected_hashes(files, record, dist_info, label)
        if sum(m.info.file_size for m in files) < _SPLIT_ABOVE:
            _extract(wheel, zf, files, dirs, expected, str(dest), label)
            return
        # A big wheel (scipy: 110 MB in 1,500 files) is the last to finish unpacking: a second
        # thread takes half of its bytes (inflating, hashing and writing let go of the GIL)
        halves: tuple[list[_Member], list[_Member]] = ([], [])
        weights = [0, 0]
        for member in sorted(files, key=lambda m: -m.info.file_size):
            lighter = 0 if weights[0] <= weights[1] else 1
            halves[lighter].append(member)
            weights[lighter] += member.info.file_size + _PER_FILE
        _make_dirs(dirs, str(dest))
        _in_two_threads(wheel, halves, expected, str(dest), label, zf)


def _check_dist_info(files: list[_Member], wheel: str) -> str:
    """The one top-level ``.dist-info`` directory, belonging to the project the file name says."""
    tops = {m.path.split("/", 1)[0] for m in files if "/" in m.path}
    infos = sorted(t for t in tops if t.endswith(".dist-info"))
    if not infos:
        raise InvalidWheel(f"wheel `{wheel}` has no .dist-info directory")
    if len(infos) > 1:
        listed = ", ".join(f"`{i}`" for i in infos)
        raise InvalidWheel(f"wheel `{wheel}` has several .dist-info directories: {listed}")
    try:
        expected = parse_wheel_name(wheel).name
    except InvalidWheel:
        expected = None  # a temporary download name: nothing to compare with
    if expected is not None and _dist_info_project(infos[0]) != expected:
        raise InvalidWheel(
            f"wheel `{wheel}` holds `{infos[0]}`, which is not the dist-info of `{expected}`"
        )
    return infos[0]


def _read_text(zf: zipfile.ZipFile, member: _Member, wheel: str) -> str:
    import zipfile  # only unpacking needs it: imported here to keep start-up short

    try:
        return zf.read(member.info).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InvalidWheel(f"wheel `{wheel}`: cannot read `{member.path}`: {exc}") from exc


def _extract(
    source: Path | ViewFile,
    zf: zipfile.ZipFile,
    files: Iterable[_Member],
    dirs: set[str],
    expected: dict[str, tuple[str, bytes, int | None] | None],
    dest: str,
    wheel: str,
) -> None:
    """Write validated members under ``dest``, checking each against its RECORD hash (members
    RECORD cannot hash, RECORD itself, are checked against their CRC-32 instead)."""
    from pyx_server.engine.install.members import MemberReader

    _make_dirs(dirs, dest)
    constructors = {name: getattr(hashlib, name) for name in STRONG_HASHES}
    try:
        reader = MemberReader(source, zf)
    except OSError as exc:
        raise InvalidWheel(f"cannot read the wheel `{wheel}`: {exc}") from exc
    with reader:
        for member in files:
            _extract_member(reader, member, expected[member.path], dest, wheel, constructors)


def _extract_member(reader, member: _Member, check, dest: str, wheel: str, constructors) -> None:
    """Write one member (``reader``: a ``members.MemberReader``), checked against ``check``
    (algorithm, digest, size from RECORD), or against its CRC-32 when RECORD has no hash."""
    import zipfile

    hasher = constructors[check[0]]() if check is not None else None
    size = 0
    try:
        fd = os.open(f"{dest}/{member.path}", _O_NEW, 0o755 if member.executable else 0o644)
        try:
            for piece in reader.pieces(member.info, check_crc=check is None):
                size += len(piece)
                if hasher is not None:
                    hasher.update(piece)
                while piece:
                    piece = piece[os.write(fd, piece) :]
        finally:
            os.close(fd)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        # zipfile raises BadZipFile on a CRC mismatch, EOFError on truncation
        raise InvalidWheel(f"wheel `{wheel}`: member `{member.path}` is corrupt: {exc}") from exc
    if hasher is not None:
        _verify(check, hasher.digest(), size, member.path, wheel)


def _make_dirs(dirs: Iterable[str], dest: str) -> None:
    for d in sorted(dirs):  # a parent sorts before its children: one mkdir per directory
        try:
            os.mkdir(f"{dest}/{d}")
        except FileExistsError:
            pass


#: a wheel holding more than this many bytes is extracted by two threads
_SPLIT_ABOVE = 48 << 20
#: what creating one file costs, in bytes of inflating (for splitting the work evenly)
_PER_FILE = 16 << 10


def _in_two_threads(wheel, halves, expected, dest: str, label: str, zf) -> None:
    """Extract ``halves[0]`` here and ``halves[1]`` in a second thread, each reading the
    archive by position through a reader of its own; the first error wins."""
    import threading

    failure: list[BaseException] = []

    def second() -> None:
        try:
            _extract(wheel, zf, halves[1], (), expected, dest, label)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=second, name="pyx-unpack-half")
    thread.start()
    try:
        _extract(wheel, zf, halves[0], (), expected, dest, label)
    finally:
        thread.join()
    if failure:
        raise failure[0]


def _verify(
    check: tuple[str, bytes, int | None], actual: bytes, size: int, path: str, wheel: str
) -> None:
    algorithm, digest, expected_size = check
    if actual != digest:
        raise InvalidWheel(
            f"wheel `{wheel}`: the content of `{path}` does not match its {algorithm} hash in RECORD",
            context={"wheel": wheel, "member": path},
            hints=["the wheel is corrupt or was tampered with; download it again"],
        )
    if expected_size is not None and expected_size != size:
        raise InvalidWheel(
            f"wheel `{wheel}`: `{path}` is {size} bytes but RECORD says {expected_size}",
            context={"wheel": wheel, "member": path},
        )
