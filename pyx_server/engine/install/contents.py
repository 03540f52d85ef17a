"""What an unpacked wheel holds, read once: the file list, hashes and launchers an install needs.

A warm install is a loop over files, and before this module existed half of its time went
to re-reading the same cache entry on every install: walking the unpacked tree, parsing
RECORD (csv), METADATA (email headers), WHEEL and ``entry_points.txt``: about 70 ms of
Python for a 29-package data-science stack, as much as linking its 8,000 files.

An unpacked wheel in the cache (``archive-v1/<sha256>``) never changes, so what it holds
is scanned once and kept as JSON in ``contents-v1/<sha256>.json``; later installs read one
file. A missing, unreadable or foreign-format entry is a miss (scanned again and rewritten),
never an error. The JSON holds only facts of the archive; everything that depends on the
target (scheme paths, the interpreter in shebangs, ``REQUESTED``, ``direct_url.json``) is
decided by the installer at install time.

Order matters: the wheel root's files first, then those of ``<name>.data/`` (a data file that
lands on a root file wins, as with pip and uv), and the ``.dist-info`` directory's last, so
that an install killed part-way leaves no dist-info and the next run sees the package as
missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pyx_server.engine.errors import InvalidWheel, UnsafeWheel
from pyx_server.engine.install.wheel import find_dist_info, parse_record, read_wheel_info

#: the scheme keys a wheel's ``<name>.data/`` may use (the binary distribution format's list)
DATA_KEYS = ("purelib", "platlib", "scripts", "data", "headers")
#: dist-info files the installer writes itself (the wheel's own copies are not installed)
GENERATED = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER", "REQUESTED", "direct_url.json"})
#: bumped whenever the JSON layout or what is scanned changes; other values are a miss
FORMAT = 2

#: one file: (area, path, RECORD hash or None, size or None). ``area`` is "" for the wheel
#: root (the dist-info included; ``path`` is then the wheel path) or a ``DATA_KEYS`` key
#: (``path`` relative to that ``<name>.data/<key>/`` directory).
FileEntry = tuple[str, str, "str | None", "int | None"]


@dataclass(frozen=True)
class ScriptEntryPoint:
    """One console_scripts / gui_scripts entry: the launcher's file name and its target."""

    name: str
    module: str
    attr: str
    gui: bool


@dataclass(frozen=True)
class WheelContents:
    """Everything an install reads from an unpacked wheel, in install order (dist-info last)."""

    name: str
    version: str
    #: the ``<name>-<version>.dist-info`` directory name
    dist_info: str
    root_is_purelib: bool
    entry_points: tuple[ScriptEntryPoint, ...]
    files: tuple[FileEntry, ...]
    #: RECORD rows (csv text) of ``linked``: rendered once, as they are the same in every install
    linked_record: str = ""

    @cached_property
    def linked(self) -> list[str]:
        """The wheel-root files that have a RECORD hash, in order: what an install links as they
        are, and lists in its RECORD as the wheel did (the bulk of every install)."""
        return [path for area, path, digest, _ in self.files if not area and digest]

    @property
    def data_dir(self) -> str:
        """The wheel's ``<name>-<version>.data`` directory name."""
        return self.dist_info[: -len(".dist-info")] + ".data"

    def wheel_path(self, area: str, path: str) -> str:
        """Where a file lives inside the wheel (and so under the unpacked directory)."""
        return path if not area else f"{self.data_dir}/{area}/{path}"

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "dist_info": self.dist_info,
            "root_is_purelib": self.root_is_purelib,
            "entry_points": [[e.name, e.module, e.attr, e.gui] for e in self.entry_points],
            "files": self.files,
            "linked_record": self.linked_record,
        }, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> WheelContents | None:
        """The contents stored in ``data``; None for anything not written by this format."""
        try:
            obj = json.loads(data)
            if obj.get("format") != FORMAT:
                return None
            return cls(
                name=obj["name"],
                version=obj["version"],
                dist_info=obj["dist_info"],
                root_is_purelib=bool(obj["root_is_purelib"]),
                entry_points=tuple(ScriptEntryPoint(n, m, a, bool(g)) for n, m, a, g in obj["entry_points"]),
                files=tuple((a, p, h, s) for a, p, h, s in obj["files"]),
                linked_record=obj["linked_record"],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def read_script_entry_points(text: str, project: str) -> list[ScriptEntryPoint]:
    """The launchers ``entry_points.txt`` asks for; names that could escape ``bin`` are refused."""
    import configparser  # here, not at the top: a warm install reads stored contents instead
    from importlib.metadata import EntryPoint

    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case of names
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise InvalidWheel(f"`{project}` has an unreadable entry_points.txt: {exc}") from exc
    found: list[ScriptEntryPoint] = []
    for group, gui in (("console_scripts", False), ("gui_scripts", True)):
        if not parser.has_section(group):
            continue
        for name, value in parser.items(group):
            name = name.strip()
            if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
                raise UnsafeWheel(
                    f"`{project}` declares a script named `{name}`, which is not a plain file name",
                    context={"project": project, "group": group},
                )
            ep = EntryPoint(name=name, value=value.strip(), group=group)
            try:
                module, attr = ep.module, ep.attr
            except AttributeError:
                module, attr = None, None
            if not module or not attr:
                raise InvalidWheel(
                    f"`{project}` declares the script `{name} = {value.strip()}`, "
                    "which is not `module:callable`",
                    context={"project": project, "group": group},
                )
            found.append(ScriptEntryPoint(name, module, attr, gui))
    return found


def walk_files(top: str, rel: str = "") -> Iterator[tuple[str, str]]:
    """(absolute path, path relative to ``top``) of every file under ``top``; no stat per file."""
    stack = [(top, rel)]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as it:
            for entry in it:
                r = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, r + "/"))
                else:
                    yield entry.path, r


def _read_metadata(dist_info: Path) -> tuple[str, str]:
    from email.parser import BytesHeaderParser

    try:
        with open(dist_info / "METADATA", "rb") as f:
            headers = BytesHeaderParser().parse(f)
    except OSError as exc:
        raise InvalidWheel(f"cannot read `{dist_info / 'METADATA'}`: {exc.strerror}") from exc
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise InvalidWheel(f"`{dist_info / 'METADATA'}` lacks a Name or a Version")
    return str(name).strip(), str(version).strip()


def scan_contents(unpacked: Path) -> WheelContents:
    """Read what the unpacked wheel ``unpacked`` holds (``InvalidWheel`` when it is not one)."""
    unpacked = Path(unpacked)
    src_info = find_dist_info(unpacked)
    name, version = _read_metadata(src_info)
    info = read_wheel_info(src_info)
    hashes = {e.path: (e.hash, e.size) for e in parse_record(
        (src_info / "RECORD").read_text(encoding="utf-8"), source=str(src_info / "RECORD"))}
    entry_points: list[ScriptEntryPoint] = []
    if (src_info / "entry_points.txt").is_file():
        entry_points = read_script_entry_points((src_info / "entry_points.txt").read_text(encoding="utf-8"), name)
    launchers = {ep.name for ep in entry_points}
    info_name = src_info.name
    data_name = info_name[: -len(".dist-info")] + ".data"
    files: list[FileEntry] = []
    data: list[FileEntry] = []  # after the root's: a data file landing on a root file wins, as in pip and uv
    last: list[FileEntry] = []

    def entry(area: str, path: str, wheel_path: str) -> FileEntry:
        digest, size = hashes.get(wheel_path, (None, None))
        return (area, path, digest or None, size if digest else None)

    with os.scandir(unpacked) as it:
        tops = sorted(it, key=lambda e: e.name)
    for top in tops:
        if top.name == info_name:
            for _, rel in walk_files(top.path):
                if rel not in GENERATED:
                    last.append(entry("", f"{info_name}/{rel}", f"{info_name}/{rel}"))
        elif top.name == data_name and top.is_dir():
            for key_entry in sorted(os.scandir(top.path), key=lambda e: e.name):
                key = key_entry.name
                if key not in DATA_KEYS or not key_entry.is_dir():
                    raise InvalidWheel(
                        f"`{name}` has `{data_name}/{key}`, which is not one of the "
                        f"wheel data directories ({', '.join(DATA_KEYS)})"
                    )
                for _, rel in walk_files(key_entry.path):
                    if key == "scripts" and rel in launchers:
                        continue  # the entry point's launcher wins, as with pip
                    data.append(entry(key, rel, f"{data_name}/{key}/{rel}"))
        elif top.is_dir(follow_symlinks=False):
            files.extend(entry("", rel, rel) for _, rel in walk_files(top.path, top.name + "/"))
        else:
            files.append(entry("", top.name, top.name))
    ordered = tuple(files + data + last)
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        (path, digest, "" if size is None else str(size)) for area, path, digest, size in ordered if not area and digest
    )
    return WheelContents(name, version, info_name, info.root_is_purelib, tuple(entry_points), ordered, out.getvalue())


def cached_contents(archive: Path, store: Path) -> WheelContents:
    """The contents of the cache entry ``archive``, from ``store/<entry>.json`` or scanned and kept there.

    ``store`` is the cache's ``contents-v1`` bucket. Writing is atomic (temporary file and
    rename), so concurrent installs at worst scan the same entry twice.
    """
    path = store / f"{Path(archive).name}.json"
    try:
        with open(path, "rb") as f:
            found = WheelContents.from_json(f.read())
    except OSError:
        found = None
    if found is not None:
        return found
    contents = scan_contents(archive)
    from pyx_server.engine.cache import atomic_write_bytes

    try:
        atomic_write_bytes(path, contents.to_json())
    except OSError:
        pass  # a read-only or full cache still installs; the next run scans again
    return contents


__all__ = [
    "DATA_KEYS",
    "GENERATED",
    "ScriptEntryPoint",
    "WheelContents",
    "cached_contents",
    "read_script_entry_points",
    "scan_contents",
    "walk_files",
]
