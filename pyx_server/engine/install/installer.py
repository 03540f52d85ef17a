"""Installing one unpacked wheel into an environment, per the binary distribution format.

``install_wheel`` takes the directory ``wheel.unpack_wheel`` made in the cache and places it
into an environment's ``Scheme``:

* the wheel root goes to purelib or platlib (``Root-Is-Purelib``); ``<name>.data/<key>/``
  goes to the scheme directory of ``key`` (purelib, platlib, scripts, data, headers);
* files are *linked* (see ``linker``), so the cached copy is never modified: anything whose
  installed bytes differ from the archive (a ``#!python`` script, an entry-point launcher,
  ``RECORD``, ``INSTALLER``…) is written as a new file;
* ``console_scripts`` / ``gui_scripts`` become launchers with the interpreter's shebang
  (``scripts``);
* the new ``RECORD`` lists every installed file relative to site-packages with sha256 and
  size — reusing the wheel's RECORD hashes for linked files, hashing only what was generated.

It plans before it acts (every path is known and checked before the first write) and is
transactional: a file of another distribution that is in the way is moved aside and put back
if the install fails, and everything placed so far is removed, so a failed install leaves the
environment as it was. Inside an install of several wheels (``transaction``), the moved files
go to the install's staging directory and the wheel reports what it placed, so that the whole
install can be undone when another wheel fails.

Uninstalling by RECORD is ``uninstaller``'s job; both names are re-exported here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyx_server.engine.errors import InstallError, PyxError
from pyx_server.engine.install.contents import WheelContents, read_script_entry_points, scan_contents
from pyx_server.engine.install.linker import Linker
from pyx_server.engine.install.scheme import Scheme
from pyx_server.engine.install.scripts import MAX_SHEBANG, launcher_script, script_shebang
from pyx_server.engine.install.uninstaller import (
    environment_root,
    listed_by_others,
    read_installed_record,
    remove_dist,
    uninstall,
)
from pyx_server.engine.install.wheel import RecordEntry, record_hash
from pyx_server.engine.progress import Reporter

_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: names of files moved into a staging directory: unique across the threads of one process
_STAGED = itertools.count()


@dataclass(frozen=True)
class InstalledWheel:
    """What ``install_wheel`` placed: the project, its new dist-info, and how many files.

    Inside an environment transaction (``staging`` given) it also says how to undo it: the
    directories it created, the files of others it moved into the staging directory
    ``(staged, original)``, and the paths it listed in RECORD but left to a later package.
    """

    name: str
    version: str
    dist_info: Path
    files: int
    created: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    left: frozenset[str] = frozenset()


def move_into(staging: str, path: str) -> str:
    """Move ``path`` (a file, or a whole directory) into the directory ``staging``, made when
    missing; where it went. On another filesystem it goes next to where it was instead."""
    staged = f"{staging}/{os.getpid()}-{next(_STAGED)}"
    try:
        os.rename(path, staged)
    except FileNotFoundError:
        if os.path.lexists(path) and not os.path.isdir(staging):
            os.makedirs(staging, exist_ok=True)
            os.rename(path, staged)
        else:
            raise
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: staging is on another filesystem
            raise
        head, tail = os.path.split(path)
        staged = os.path.join(head, f".{tail}.pyx-old-{os.getpid()}-{next(_STAGED)}")
        os.rename(path, staged)
    return staged


@dataclass
class _Action:
    """One file to place: linked from ``src``, or written from ``data`` when it is generated."""

    dst: str
    record_path: str
    src: str | None = None
    data: bytes | None = None
    mode: int = 0o644
    #: RECORD hash and size; None means "compute after placing"
    hash: str | None = None
    size: int | None = None


class _Transaction:
    """What an install has placed so far, so a failure can put the environment back."""

    def __init__(self, staging: str | None = None) -> None:
        #: the environment transaction's staging directory: moved files wait there for its end
        self.staging = staging
        self.files: list[str] = []
        self.dirs: list[str] = []
        self.moved: list[tuple[str, str]] = []  # (aside, original)
        #: runs of files linked in bulk: (destination base, paths, first, end) placed ``paths[first:end]``
        self.bulk: list[tuple[str, Sequence[str], int, int]] = []
        self._known: set[str] = set()
        self._placed: set[str] = set()

    def link_bulk(self, linker: Linker, src_base: str, dst_base: str, paths: Sequence[str]) -> None:
        """Link ``paths`` from ``src_base`` to ``dst_base`` (their directories exist); a file
        already in the way is moved aside like any other."""
        start = 0
        while True:
            end, exc = linker.link_files(src_base, dst_base, paths, start)
            self.bulk.append((dst_base, paths, start, end))
            if exc is None:
                return
            if not isinstance(exc, FileExistsError):
                raise exc
            src = src_base + paths[end]
            self.place(dst_base + paths[end], lambda p: linker.link(src, p))
            start = end + 1

    def ensure_dir(self, path: str) -> None:
        if path in self._known:
            return
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        except FileNotFoundError:
            self.ensure_dir(os.path.dirname(path))
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            else:
                self.dirs.append(path)
        else:
            self.dirs.append(path)
        self._known.add(path)

    def place(self, dst: str, put: Callable[[str], None]) -> None:
        """Create ``dst`` with ``put``; a file already there is moved aside (restored on rollback)."""
        try:
            put(dst)
        except FileExistsError:
            if dst in self._placed:
                os.unlink(dst)  # two members map to one path: the later one wins
            else:
                self.move_aside(dst)
            put(dst)
        if dst not in self._placed:
            self.files.append(dst)
            self._placed.add(dst)

    def move_aside(self, dst: str) -> None:
        if os.path.isdir(dst) and not os.path.islink(dst):
            raise IsADirectoryError(21, "a directory is in the way", dst)
        if self.staging is not None:
            self.moved.append((move_into(self.staging, dst), dst))
            return
        head, tail = os.path.split(dst)
        aside = os.path.join(head, f".{tail}.pyx-old-{os.getpid()}-{next(_STAGED)}")
        os.rename(dst, aside)
        self.moved.append((aside, dst))

    def commit(self) -> None:
        if self.staging is not None:
            return  # the environment transaction removes its staging directory at its end
        for aside, _ in self.moved:
            try:
                os.unlink(aside)
            except OSError:
                pass

    def rollback(self) -> None:
        for path in reversed(self.files):
            try:
                os.unlink(path)
            except OSError:
                pass
        for base, paths, first, end in reversed(self.bulk):
            for i in range(first, end):
                try:
                    os.unlink(base + paths[i])
                except OSError:
                    pass
        for aside, original in reversed(self.moved):
            try:
                os.replace(aside, original)
            except OSError:
                pass
        for path in reversed(self.dirs):
            try:
                os.rmdir(path)
            except OSError:
                pass


def _plan(
    unpacked: Path, contents: WheelContents, scheme: Scheme, python: str, requested: bool,
    direct_url: dict | None, installer: str, bulk: bool = True,
) -> tuple[str, list[_Action]]:
    """Every file the install will place, checked, before anything is written.

    With ``bulk``, the files of ``contents.linked`` are left out: the caller links them in
    bulk. Without it, every file is an action (when a data file lands on one of them).
    """
    name = contents.name
    root_dir = os.path.abspath(scheme.purelib if contents.root_is_purelib else scheme.platlib)
    targets = {
        "": root_dir,
        "purelib": os.path.abspath(scheme.purelib),
        "platlib": os.path.abspath(scheme.platlib),
        "scripts": os.path.abspath(scheme.scripts),
        "data": os.path.abspath(scheme.data),
        "headers": os.path.abspath(scheme.headers_for(name)),
    }
    prefixes = {k: _record_prefix(v, root_dir) for k, v in targets.items()}
    base = f"{unpacked}/"
    data_name = contents.data_dir
    actions: list[_Action] = []
    append = actions.append
    # one pass per file, the hot loop of every install: string joins and one object each
    for area, rel, digest, size in contents.files:
        if not area:
            if digest and bulk:
                continue  # in ``contents.linked``: linked in bulk, its RECORD rows rendered already
            append(_Action(f"{root_dir}/{rel}", rel, f"{base}{rel}", None, 0o644, digest, size))
        elif area == "scripts":
            src = f"{base}{data_name}/scripts/{rel}"
            record = RecordEntry(rel, digest, size) if digest else None
            append(_script_action(src, f"{targets['scripts']}/{rel}", f"{prefixes['scripts']}{rel}", python, record))
        else:
            append(_Action(f"{targets[area]}/{rel}", f"{prefixes[area]}{rel}",
                           f"{base}{data_name}/{area}/{rel}", None, 0o644, digest, size))

    for ep in contents.entry_points:
        data = launcher_script(python, ep.module, ep.attr)
        actions.append(_Action(f"{targets['scripts']}/{ep.name}", f"{prefixes['scripts']}{ep.name}",
                               data=data, mode=0o755))
    info_name = contents.dist_info
    dist_dir = f"{root_dir}/{info_name}"
    actions.append(_Action(f"{dist_dir}/INSTALLER", f"{info_name}/INSTALLER",
                           data=(installer + "\n").encode("utf-8")))
    if requested:
        actions.append(_Action(f"{dist_dir}/REQUESTED", f"{info_name}/REQUESTED", data=b""))
    if direct_url is not None:
        if not isinstance(direct_url, dict) or "url" not in direct_url:
            raise InstallError(f"`{name}`: direct_url must be a PEP 610 object with a `url`")
        actions.append(_Action(f"{dist_dir}/direct_url.json", f"{info_name}/direct_url.json",
                               data=json.dumps(direct_url, sort_keys=True).encode("utf-8")))
    return dist_dir, actions


def _record_prefix(directory: str, root_dir: str) -> str:
    """How RECORD spells ``directory`` relative to site-packages (``../../../bin/``), with a slash."""
    rel = os.path.relpath(directory, root_dir)
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def _script_action(src: str, dst: str, record_path: str, python: str,
                   entry: RecordEntry | None) -> _Action:
    """A ``.data/scripts`` file: ``#!python`` gets the interpreter's shebang; all are executable."""
    with open(src, "rb") as f:
        data = f.read()
    if data.startswith(b"#!python"):
        _, newline, rest = data.partition(b"\n")
        return _Action(dst, record_path, data=script_shebang(python) + (rest if newline else b""),
                       mode=0o755)
    recorded = (entry.hash, entry.size) if entry is not None and entry.hash else (None, None)
    if os.stat(src).st_mode & 0o111:
        return _Action(dst, record_path, src=src, hash=recorded[0], size=recorded[1])
    # not executable in the cache: chmod on a link would change the cache, so write a copy
    return _Action(dst, record_path, data=data, mode=0o755, hash=recorded[0], size=recorded[1])


def _write_new(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, _O_NEW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _file_hash(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        data = f.read()
    return record_hash(data), len(data)


def install_wheel(
    unpacked: Path,
    scheme: Scheme,
    *,
    python: str,
    linker: Linker,
    requested: bool = True,
    direct_url: dict | None = None,
    installer: str = "pyx",
    contents: WheelContents | None = None,
    staging: str | None = None,
    leave: frozenset[str] = frozenset(),
) -> InstalledWheel:
    """Install the unpacked wheel ``unpacked`` (a cache entry, never modified) into ``scheme``.

    ``python`` is the environment's interpreter, for shebangs. ``contents`` is what
    ``contents.cached_contents`` read for this entry (scanned here when not given). Files of
    another distribution in the way are replaced; on any failure everything is put back and
    ``InstallError`` (or the ``InvalidWheel`` that explains it) names the package. Replacing
    an installed version of the same project is ``replace_wheel``'s job (or ``uninstall`` first).

    Inside an environment transaction: files in the way go to ``staging`` (kept until the
    transaction ends), and the paths in ``leave`` are listed in RECORD but not placed, as a
    later package of the same install ships them (``transaction.claims``).
    """
    unpacked = Path(unpacked)
    label = unpacked.name
    try:
        contents = contents or scan_contents(unpacked)
        dist_dir, actions = _plan(unpacked, contents, scheme, python, requested, direct_url, installer)
        root_dir = dist_dir.rpartition("/")[0]
        linked = contents.linked
        if _lands_on(actions, root_dir, linked):  # a data file replaces a root file: one by one
            linked = []
            dist_dir, actions = _plan(unpacked, contents, scheme, python, requested, direct_url, installer, bulk=False)
    except PyxError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read the unpacked wheel `{label}`: {exc}") from exc
    name, version = contents.name, contents.version

    # The dist-info goes in last: a process killed mid-install leaves files but no dist-info,
    # so the next run sees the package as missing and installs it again over the debris.
    # ``contents`` lists its files last; the generated ones (launchers, INSTALLER…) are
    # ordered here.
    prefix = dist_dir + "/"
    actions = sorted(actions, key=lambda a: a.dst.startswith(prefix))
    info = f"{contents.dist_info}/"
    src_base, dst_base = f"{unpacked}/", f"{root_dir}/"
    # RECORD lists ``linked``; what this wheel links may be fewer (``leave``)
    bulk = [p for p in linked if dst_base + p not in leave] if leave else linked
    split = next((i for i, path in enumerate(bulk) if path.startswith(info)), len(bulk))
    tx = _Transaction(staging)
    record: dict[str, tuple[str, str, str]] = {}
    link = linker.link
    try:
        # the bulk of the wheel: its directories, then its files, the dist-info's last
        for parent in dict.fromkeys(path.rpartition("/")[0] for path in bulk):
            if parent:
                tx.ensure_dir(dst_base + parent)
        tx.link_bulk(linker, src_base, dst_base, bulk[:split])
        info_linked = False
        for action in actions:
            if not info_linked and action.dst.startswith(prefix):
                tx.link_bulk(linker, src_base, dst_base, bulk[split:])
                info_linked = True
            dst = action.dst
            if dst in leave:  # a later package places it: recorded, as that install would
                digest, size = (action.hash, action.size) if action.hash else (
                    (record_hash(action.data), len(action.data)) if action.data is not None else _file_hash(action.src))
                record[dst] = (action.record_path, digest, "" if size is None else str(size))
                continue
            parent = dst.rpartition("/")[0]
            if parent not in tx._known:
                tx.ensure_dir(parent)
            if action.data is not None:
                data, mode = action.data, action.mode
                tx.place(action.dst, lambda p, d=data, m=mode: _write_new(p, d, m))
                digest = action.hash or record_hash(data)
                size = action.size if action.hash and action.size is not None else len(data)
            else:
                src = action.src
                tx.place(action.dst, lambda p, s=src: link(s, p))
                if action.hash is not None:
                    digest, size = action.hash, action.size
                else:
                    digest, size = _file_hash(action.dst)
            record[action.dst] = (action.record_path, digest, "" if size is None else str(size))
        if not info_linked:
            tx.link_bulk(linker, src_base, dst_base, bulk[split:])
        record_rel = f"{os.path.basename(dist_dir)}/RECORD"
        rows = sorted(record.values())
        rows.append((record_rel, "", ""))
        out = io.StringIO()
        if linked:
            out.write(contents.linked_record)
        csv.writer(out, lineterminator="\n").writerows(rows)
        record_file = f"{dist_dir}/RECORD"
        tx.place(record_file, lambda p: _write_new(p, out.getvalue().encode("utf-8"), 0o644))
    except BaseException as exc:
        tx.rollback()
        if isinstance(exc, PyxError) or not isinstance(exc, Exception):
            raise
        raise InstallError(
            f"installing `{name}` {version} failed: {exc}",
            context={"package": name, "version": version},
            hints=["the environment was left as it was before the install"],
        ) from exc
    tx.commit()
    files = len(rows) + len(linked)
    if staging is None:
        return InstalledWheel(name=name, version=version, dist_info=Path(dist_dir), files=files)
    return InstalledWheel(name=name, version=version, dist_info=Path(dist_dir), files=files,
                          created=tuple(tx.dirs), moved=tuple(tx.moved), left=leave)


def _lands_on(actions: list[_Action], root_dir: str, linked: Sequence[str]) -> bool:
    """Whether an action writes one of the ``linked`` paths (a ``.data/purelib`` file shadowing a
    root file, say): then the install goes file by file, where the later file wins."""
    prefix = root_dir + "/"
    inside = [a.dst[len(prefix):] for a in actions if a.dst.startswith(prefix)]
    return bool(inside) and not set(inside).isdisjoint(linked)


def replace_wheel(
    old_dist_info: Path,
    unpacked: Path,
    scheme: Scheme,
    *,
    python: str,
    linker: Linker,
    reporter: Reporter | None = None,
    **options: Any,
) -> InstalledWheel:
    """Upgrade/reinstall: install the new wheel over ``old_dist_info``, then remove what it left.

    Installing first (files in the way are moved aside and restored on failure) keeps the old
    version working if the new one fails; files both versions ship end up present because
    only the old paths the new RECORD does not list are removed. Notices (RECORD lines pointing
    outside the environment) go to ``reporter`` on the calling thread. An install of several
    wheels stages the old version instead (``transaction``), so that it can come back.
    """
    old_dist_info = Path(os.path.abspath(old_dist_info))
    old_entries = read_installed_record(old_dist_info)
    new = install_wheel(unpacked, scheme, python=python, linker=linker, **options)
    site = str(new.dist_info.parent)
    keep = {os.path.normpath(os.path.join(site, e.path)) for e in read_installed_record(new.dist_info)}
    if old_dist_info != new.dist_info:
        keep |= listed_by_others(old_dist_info, old_entries) - {str(new.dist_info)}
    _, notices = remove_dist(old_dist_info, old_entries, keep=keep, remove_dist_info=old_dist_info != new.dist_info)
    for notice in notices:
        (reporter or Reporter()).report(notice)
    return new


def destinations(contents: WheelContents, scheme: Scheme) -> Iterator[tuple[str, str | None]]:
    """Every path an install of ``contents`` into ``scheme`` places, with its RECORD hash (None
    for what the install generates): what ``transaction.claims`` compares between wheels."""
    root_dir = os.path.abspath(scheme.purelib if contents.root_is_purelib else scheme.platlib)
    targets = {
        "": root_dir,
        "purelib": os.path.abspath(scheme.purelib),
        "platlib": os.path.abspath(scheme.platlib),
        "scripts": os.path.abspath(scheme.scripts),
        "data": os.path.abspath(scheme.data),
        "headers": os.path.abspath(scheme.headers_for(contents.name)),
    }
    for area, rel, digest, _ in contents.files:
        yield f"{targets[area]}/{rel}", (None if area == "scripts" else digest)
    for ep in contents.entry_points:
        yield f"{targets['scripts']}/{ep.name}", None


__all__ = [
    "MAX_SHEBANG",
    "InstalledWheel",
    "destinations",
    "environment_root",
    "install_wheel",
    "move_into",
    "launcher_script",
    "read_script_entry_points",
    "replace_wheel",
    "script_shebang",
    "uninstall",
]
