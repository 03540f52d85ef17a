"""Build small wheels (and evil ones) for the test suite, so no test needs a real index.

``build_wheel`` writes a spec-conformant wheel: ``METADATA``, ``WHEEL``, ``RECORD`` with
sha256 hashes, optional ``entry_points.txt`` and ``.data`` members. ``raw_members`` adds
zip members as given, unchecked, to build wheels that must be rejected (zip-slip, symlinks).
"""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def dist_name(name: str) -> str:
    """The file-name form of a distribution name (PEP 427 escaping)."""
    return canonicalize_name(name).replace("-", "_")


def metadata_text(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    summary: str | None = None,
    extras: Iterable[str] = (),
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {e}" for e in extras]
    lines += [f"Requires-Dist: {r}" for r in requires_dist]
    return "\n".join(lines) + "\n\n"


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    files: Mapping[str, bytes | str] | None = None,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    summary: str | None = None,
    extras: Iterable[str] = (),
    tag: str = "py3-none-any",
    root_is_purelib: bool = True,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    data: Mapping[str, bytes | str] | None = None,
    executable: Iterable[str] = (),
    raw_members: Mapping[str, bytes] | None = None,
    symlinks: Mapping[str, str] | None = None,
    build: str | None = None,
) -> Path:
    """Write ``<name>-<version>[-build]-<tag>.whl`` into ``directory`` and return its path.

    ``files`` maps paths under the wheel root to contents (default: ``<pkg>/__init__.py``
    defining ``__version__``). ``data`` maps ``<scheme>/<path>`` (``scripts/x``,
    ``data/share/y``, ``headers/z.h``, ``purelib/…``, ``platlib/…``) into ``.data``.
    ``executable`` lists member names to mark executable. ``symlinks`` adds symlink members.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = dist_name(name)
    dist_info = f"{base}-{version}.dist-info"
    data_dir = f"{base}-{version}.data"
    if files is None:
        files = {f"{base}/__init__.py": f'__version__ = "{version}"\n'}
    members: dict[str, bytes] = {}
    for path, content in files.items():
        members[path] = content.encode() if isinstance(content, str) else content
    for path, content in (data or {}).items():
        members[f"{data_dir}/{path}"] = content.encode() if isinstance(content, str) else content
    members[f"{dist_info}/METADATA"] = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        summary=summary,
        extras=extras,
    ).encode()
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: pyx-tests",
        f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}",
    ]
    wheel_lines += [f"Tag: {t}" for t in _expand_tag(tag)]
    if build:
        wheel_lines.append(f"Build: {build}")
    members[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    if entry_points:
        text = ""
        for group, items in entry_points.items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n"
        members[f"{dist_info}/entry_points.txt"] = text.encode()
    record_lines = [f"{p},{_record_hash(c)},{len(c)}" for p, c in members.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()

    build_part = f"-{build}" if build else ""
    path = directory / f"{base}-{version}{build_part}-{tag}.whl"
    executable = set(executable)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, content in members.items():
            info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if member in executable or member.startswith(f"{data_dir}/scripts/") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, content)
        for member, content in (raw_members or {}).items():
            info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, content)
        for member, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _expand_tag(tag: str) -> list[str]:
    pythons, abis, platforms = tag.split("-")
    return [
        f"{py}-{abi}-{plat}"
        for py in pythons.split(".")
        for abi in abis.split(".")
        for plat in platforms.split(".")
    ]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
