"""Reading source distribution archives safely: member checks, the top directory, extraction.

An sdist is a ``.tar.gz`` (or a legacy ``.zip``) holding one top-level directory
``{name}-{version}/``. Every member is checked before anything is written: no absolute paths,
no drive letters, no ``..`` components, nothing outside the single top directory, no device
files, and links only to places inside that directory. Tar archives are then extracted with
the standard library's ``data`` filter where the running Python has it (3.10.12+, 3.11.4+),
which repeats those checks and drops set-uid bits; zip members are written one by one. A bad
archive raises ``InvalidSdist`` naming the archive and the member, and leaves nothing behind
in the destination pyx chose (a scratch directory in the cache).
"""

from __future__ import annotations

import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pyx_server.engine.errors import InvalidSdist

#: the archive suffixes pyx reads as sdists (``.tar.gz`` is the standard one)
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_sdist_name(filename: str) -> bool:
    """Whether ``filename`` has the suffix of an archive pyx can read as an sdist."""
    return filename.lower().endswith(SDIST_SUFFIXES)


@dataclass(frozen=True)
class SdistContents:
    """What a checked archive holds: its top-level directory and its (normalized) file names."""

    top: str
    files: frozenset[str]


def _unsafe(archive: Path, member: str, why: str) -> InvalidSdist:
    return InvalidSdist(
        f"source distribution `{archive.name}` has a member `{member}` that {why}",
        context={"sdist": archive, "member": member},
        hints=["the archive is corrupt or malicious; nothing from it was used"],
    )


def _normalize(archive: Path, name: str) -> str:
    """``name`` as a relative ``/``-path without ``.`` parts, or ``InvalidSdist`` if it could escape."""
    if "\x00" in name:
        raise _unsafe(archive, name, "contains a NUL byte")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _unsafe(archive, name, "is an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise _unsafe(archive, name, "has a `..` component and would land outside the archive")
    return "/".join(parts)


def _top_of(archive: Path, names: list[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names if n}
    if len(tops) != 1:
        shown = ", ".join(f"`{t}`" for t in sorted(tops)[:5]) or "nothing"
        raise InvalidSdist(
            f"source distribution `{archive.name}` must hold exactly one top-level directory, "
            f"not {shown}",
            context={"sdist": archive},
            hints=["sdists are archives of one `{name}-{version}/` directory (the sdist format spec)"],
        )
    return tops.pop()


def _check_tar(archive: Path, tf: tarfile.TarFile) -> SdistContents:
    checked: list[tuple[tarfile.TarInfo, str]] = []
    for member in tf.getmembers():
        name = _normalize(archive, member.name)
        if name:  # "" is the archive's "." entry
            checked.append((member, name))
    top = _top_of(archive, [name for _, name in checked])
    files: set[str] = set()
    for member, name in checked:
        if member.isdev():
            raise _unsafe(archive, member.name, "is a device file or a pipe")
        if member.issym():
            target = member.linkname
            if target.startswith("/") or _DRIVE.match(target):
                raise _unsafe(archive, member.name, f"is a link to the absolute path `{target}`")
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if not joined.startswith(top + "/"):
                raise _unsafe(archive, member.name, f"is a link out of its directory (`{target}`)")
        elif member.islnk():
            if not _normalize(archive, member.linkname).startswith(top + "/"):
                raise _unsafe(archive, member.name, f"is a hard link out of its directory (`{member.linkname}`)")
        elif member.isfile():
            files.add(name)
    return SdistContents(top, frozenset(files))


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> SdistContents:
    names: list[str] = []
    files: set[str] = set()
    for info in zf.infolist():
        name = _normalize(archive, info.filename)
        if not name:
            continue
        names.append(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _unsafe(archive, info.filename, "is a symbolic link (not allowed in a zip sdist)")
        if not info.is_dir():
            files.add(name)
    return SdistContents(_top_of(archive, names), frozenset(files))


def _open_error(archive: Path, exc: BaseException) -> InvalidSdist:
    return InvalidSdist(
        f"cannot read the source distribution `{archive.name}`: {exc}",
        context={"sdist": archive},
        hints=["the file is damaged or not an archive; download it again"],
    )


def _is_zip(archive: Path) -> bool:
    return archive.name.lower().endswith(".zip")


def inspect_sdist(archive: Path) -> SdistContents:
    """Check every member of ``archive`` (no file is written); raise ``InvalidSdist`` if one is unsafe."""
    try:
        if _is_zip(archive):
            with zipfile.ZipFile(archive) as zf:
                return _check_zip(archive, zf)
        with tarfile.open(archive, "r:*") as tf:
            return _check_tar(archive, tf)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise _open_error(archive, exc) from exc


def read_member(archive: Path, contents: SdistContents, relative: str) -> bytes | None:
    """The bytes of ``<top>/<relative>`` (``PKG-INFO``, ``pyproject.toml``) without extracting; None if absent."""
    wanted = f"{contents.top}/{relative}"
    if wanted not in contents.files:
        return None
    try:
        if _is_zip(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if _normalize(archive, info.filename) == wanted:
                        return zf.read(info)
            return None
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                if member.isfile() and _normalize(archive, member.name) == wanted:
                    handle = tf.extractfile(member)
                    return handle.read() if handle is not None else None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise _open_error(archive, exc) from exc
    return None


def extract_sdist(archive: Path, dest: Path) -> Path:
    """Check and unpack ``archive`` into the empty directory ``dest``; return its top directory."""
    contents = inspect_sdist(archive)
    try:
        if _is_zip(archive):
            with zipfile.ZipFile(archive) as zf:
                _extract_zip(archive, zf, dest)
        else:
            with tarfile.open(archive, "r:*") as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # pragma: no cover - Pythons before the extraction filters
                    tf.extractall(dest)
    except tarfile.FilterError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        member = getattr(getattr(exc, "tarinfo", None), "name", "?")
        raise _unsafe(archive, member, f"was refused on extraction ({exc})") from exc
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise _open_error(archive, exc) from exc
    top = dest / contents.top
    if not top.is_dir():
        raise InvalidSdist(
            f"source distribution `{archive.name}` has no directory `{contents.top}`",
            context={"sdist": archive},
        )
    return top


def _extract_zip(archive: Path, zf: zipfile.ZipFile, dest: Path) -> None:
    for info in zf.infolist():
        name = _normalize(archive, info.filename)
        if not name:
            continue
        target = dest.joinpath(*name.split("/"))
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if (info.external_attr >> 16) & 0o111:
            target.chmod(0o755)
