"""Uninstalling a distribution by its RECORD, keeping the files another distribution still lists.

RECORD paths are relative to site-packages and may climb out of it (``../../../bin/x``); a
line pointing outside the environment is skipped with a warning, never followed.

Two distributions may ship the same file (a fork and its original, or two packages that both
write ``bulky/__init__.py``). pip and uv remove every file the RECORD lists, so uninstalling one
breaks the other. pyx keeps a file that the RECORD of another installed distribution lists:
the other still works, and the file goes when the last distribution listing it goes. Finding
those costs reading the other RECORDs that mention one of the removed top-level names, and
only when something is uninstalled.

Removal goes through a ``discard`` function: ``os.unlink`` for a plain uninstall, or a move
into a staging directory when the caller (``install.transaction``) must be able to put the
distribution back.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from pyx_server.engine.errors import InvalidWheel, UninstallError
from pyx_server.engine.install.contents import walk_files
from pyx_server.engine.install.wheel import RecordEntry, parse_record
from pyx_server.engine.progress import Notice, Reporter


def read_installed_record(dist_info: Path) -> list[RecordEntry]:
    """The RECORD of an installed distribution (``UninstallError`` when it has none)."""
    record = dist_info / "RECORD"
    try:
        text = record.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UninstallError(
            f"cannot uninstall `{dist_info.name}`: it has no RECORD, so its files are unknown",
            context={"dist_info": dist_info},
            hints=[
                "it was installed by a tool that does not record its files (a distutils "
                "`setup.py install` or a system package manager); remove it with that tool, "
                f"or delete its files and `{dist_info}` by hand"
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UninstallError(f"cannot read `{record}`: {exc}") from exc
    try:
        return parse_record(text, source=str(record))
    except InvalidWheel as exc:
        raise UninstallError(exc.message) from exc


def environment_root(site_packages: Path) -> Path:
    """The environment a site-packages belongs to: the venv (``pyvenv.cfg``) or the prefix.

    Uninstall never removes anything outside it. ``--target``-style directories are their own root.
    """
    site = Path(os.path.abspath(site_packages))
    for candidate in [site, *list(site.parents)[:3]]:
        if (candidate / "pyvenv.cfg").is_file():
            return candidate
    parts = site.parts
    if len(parts) >= 4 and site.name in ("site-packages", "dist-packages"):
        if site.parent.name.startswith(("python", "pypy")) and site.parent.parent.name.startswith("lib"):
            return site.parent.parent.parent
        if site.parent.name.lower() == "lib":
            return site.parent.parent
    return site


def listed_by_others(dist_info: Path, entries: Iterable[RecordEntry]) -> set[str]:
    """The files of ``entries`` (``dist_info``'s RECORD) that another distribution next to it
    also lists in its RECORD: what uninstalling ``dist_info`` must leave in place.

    Only the RECORDs with a line starting with one of the removed top-level names (or ending in
    one of its script names) are parsed; a RECORD that cannot be read keeps nothing.
    """
    site = str(dist_info.parent)
    mine: dict[str, str] = {}
    needles: set[str] = set()
    for entry in entries:
        path = entry.path
        head = path.partition("/")[0]
        if head == dist_info.name:
            continue
        if head == "..":  # a script: ``../../../bin/<name>``, anywhere on a line
            name = path.rpartition("/")[2]
            needles.update((f"/{name},", f'/{name}"'))
        else:  # a top-level name, at the start of a line (plain or quoted)
            needles.update((f"\n{head}/", f"\n{head},", f'\n"{head}'))
        mine[os.path.normpath(os.path.join(site, path))] = path
    shared: set[str] = set()
    if not mine:
        return shared
    try:
        with os.scandir(site) as it:
            others = [e.path for e in it if e.name.endswith(".dist-info") and e.name != dist_info.name]
    except OSError:
        return shared
    for other in others:
        try:
            with open(os.path.join(other, "RECORD"), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        text = "\n" + text
        if not any(needle in text for needle in needles):
            continue
        try:
            rows = parse_record(text[1:], source=other)
        except InvalidWheel:
            continue
        for row in rows:
            full = os.path.normpath(os.path.join(site, row.path))
            if full in mine:
                shared.add(full)
    return shared


def uninstall(
    dist_info: Path, *, root: Path | None = None, reporter: Reporter | None = None
) -> list[Path]:
    """Remove an installed distribution by its RECORD (pip's and pyx's alike); return what went.

    Their ``__pycache__`` files, directories left empty and the dist-info go too; files another
    installed distribution lists stay (see the module docstring). A RECORD line pointing outside
    the environment ``root`` (default: ``environment_root``) is skipped and reported as a warning
    ``Notice`` on the calling thread, never followed.
    """
    dist_info = Path(os.path.abspath(dist_info))
    entries = read_installed_record(dist_info)
    removed, notices = remove_dist(dist_info, entries, root=root, keep=listed_by_others(dist_info, entries))
    for notice in notices:
        (reporter or Reporter()).report(notice)
    return removed


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def remove_dist(
    dist_info: Path,
    entries: list[RecordEntry],
    *,
    root: Path | None = None,
    keep: set[str] | frozenset[str] = frozenset(),
    remove_dist_info: bool = True,
    discard: Callable[[str], None] | None = None,
) -> tuple[list[Path], list[Notice]]:
    """Remove ``entries`` of ``dist_info`` except the paths in ``keep``: what went, and the
    notices about skipped lines (returned, so the caller reports them on its own thread).

    With ``discard`` (a move into a staging directory), the dist-info goes first, so that a
    process killed part-way leaves the project not installed, never installed with files missing.
    """
    site = str(dist_info.parent)
    env_root = os.path.abspath(root if root is not None else environment_root(dist_info.parent))
    real_root = os.path.realpath(env_root)
    real_dirs: dict[str, str] = {}
    removed: list[Path] = []
    notices: list[Notice] = []
    touched_dirs: set[str] = set()
    py_stems: dict[str, set[str]] = {}
    seen: set[str] = set()
    staging = discard is not None
    unlink = discard or os.unlink

    if staging and remove_dist_info and os.path.isdir(dist_info) and not os.path.islink(dist_info):
        leftovers = [Path(p) for p, _ in walk_files(str(dist_info))]
        try:
            unlink(str(dist_info))
        except OSError as exc:
            raise UninstallError(f"cannot remove `{dist_info}`: {exc.strerror}") from exc
        removed.extend(leftovers)
        removed.append(dist_info)

    for entry in entries:
        full = os.path.normpath(os.path.join(site, entry.path))
        if full in seen:
            continue
        seen.add(full)
        parent = os.path.dirname(full)
        real_parent = real_dirs.get(parent)
        if real_parent is None:
            real_parent = real_dirs[parent] = os.path.realpath(parent)
        if not _inside(full, env_root) or full == env_root or not _inside(real_parent, real_root):
            notices.append(Notice(
                f"skipped `{entry.path}` from the RECORD of `{dist_info.name}`: "
                f"it points outside the environment `{env_root}`", level="warning", code="record-outside-environment"))
            continue
        if full in keep:
            continue
        try:
            if staging and os.path.isdir(full) and not os.path.islink(full):
                continue  # a directory listed by mistake: a move would take all of it
            unlink(full)
        except FileNotFoundError:
            continue
        except (IsADirectoryError, PermissionError) as exc:
            if os.path.isdir(full) and not os.path.islink(full):
                continue  # a directory listed by mistake: emptied ones go below
            raise UninstallError(f"cannot remove `{full}`: {exc.strerror}",
                                 context={"dist_info": dist_info}) from exc
        except OSError as exc:
            raise UninstallError(f"cannot remove `{full}`: {exc.strerror}",
                                 context={"dist_info": dist_info}) from exc
        removed.append(Path(full))
        touched_dirs.add(parent)
        if full.endswith(".py"):
            py_stems.setdefault(parent, set()).add(full)

    for directory, sources in py_stems.items():
        cache = os.path.join(directory, "__pycache__")
        try:
            names = os.listdir(cache)
        except OSError:
            continue
        for n in names:
            if not n.endswith(".pyc"):
                continue
            pyc = os.path.join(cache, n)
            try:
                source = importlib.util.source_from_cache(pyc)
            except (ValueError, NotImplementedError):
                continue
            if source in sources and pyc not in keep:
                try:
                    unlink(pyc)
                except OSError:
                    continue
                removed.append(Path(pyc))
        touched_dirs.add(cache)

    if not staging and remove_dist_info and os.path.isdir(dist_info) and not os.path.islink(dist_info):
        leftovers = [Path(p) for p, _ in walk_files(str(dist_info))]
        try:
            shutil.rmtree(dist_info)
        except OSError as exc:
            raise UninstallError(f"cannot remove `{dist_info}`: {exc.strerror}") from exc
        removed.extend(leftovers)
        removed.append(dist_info)

    removed.extend(Path(d) for d in prune_empty_dirs(touched_dirs, env_root, site))
    return removed, notices


#: what ``python -m venv`` creates at the root: kept even when an uninstall empties them
_LAYOUT = frozenset({"bin", "Scripts", "lib", "lib64", "Lib", "include", "Include"})


def prune_empty_dirs(dirs: set[str], env_root: str, site: str) -> list[str]:
    """Remove directories the uninstall emptied, never the environment's own layout.

    Kept: the root, site-packages and its ancestors, and in an environment (not a
    ``--target`` directory) the standard top-level directories (``bin``, ``include``…).
    """
    protected = {env_root}
    p = site
    while _inside(p, env_root) and p not in protected:
        protected.add(p)
        p = os.path.dirname(p)
    if env_root != site:
        protected.update(os.path.join(env_root, name) for name in _LAYOUT)
    gone: list[str] = []
    for d in sorted(dirs, key=len, reverse=True):
        while _inside(d, env_root) and d not in protected:
            try:
                os.rmdir(d)
            except OSError:
                break
            gone.append(d)
            d = os.path.dirname(d)
    return gone


__all__ = ["environment_root", "listed_by_others", "read_installed_record", "remove_dist", "uninstall"]
