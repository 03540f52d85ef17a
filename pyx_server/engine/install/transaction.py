"""One install into an environment, all or nothing: staged removals, remembered links, rollback.

The act stage (``operations._act``) removes distributions and links wheels, the wheels on
several threads or forked processes at once. If anything fails part-way (a file that cannot be
linked, a permission error, a full disk, an interrupted job), the environment afterwards holds
exactly the distributions and files it held before, replaced versions included. Without
copying the environment:

* a removed distribution (extraneous, or the old version of a replaced one) is not deleted but
  moved, file by file, into a staging directory in site-packages (``.pyx-staging-<pid>-…``,
  a rename on the same filesystem), its dist-info first; files of other distributions that a
  new wheel finds in its way go there too;
* each wheel's job returns what it placed (its RECORD, the directories it made, what it
  moved); a failed job has already taken its own files back. On failure the jobs' stream is
  closed first, so that every job has ended; a wheel a forked worker installed whose result
  never arrived (an interruption) is found by its dist-info, new since any old one was staged;
* on failure the placed files are removed and the staged ones renamed back; on success the
  staging directory is deleted, which is the deletion an uninstall does anyway. Moving a file
  and deleting it later costs about what deleting it costs: a warm install of new packages
  stages nothing, and an upgrade no longer keeps its jobs out of forked workers.

Two wheels of one install may ship the same file (``bulky/__init__.py`` in three packages).
Linked at once they raced (``File exists``, issue 11), and which copy stayed depended on
the scheduling. Here the paths are compared before any job starts (``claims``): every path is
placed by exactly one wheel, the one whose project name sorts last, the others list it in
their RECORD (with the hash of their own copy) without placing it: the state pip reaches by
installing one after the other, where the later overwrites. uv links in parallel and
overwrites too, so its winner depends on the scheduling; it warns (a preview feature) when
the copies' sizes differ. pyx warns when their hashes differ: a warning ``Notice`` (code
``overlapping-files``) names the packages. Uninstalling one of them keeps the file while
another RECORD lists it (``uninstaller``; pip and uv remove it).

A process killed with SIGKILL cannot roll back. What it leaves is repaired by the next run
that changes the environment: a distribution is either whole or missing its dist-info
(installs write the dist-info last, removals move it first), so the next install sees what is
missing and installs it over the debris; the staging directory of a process that no longer
runs is deleted when the next transaction starts.

Reporting happens only here, on the thread running the operation (the ``Reporter`` contract):
jobs return what happened, they never report.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pyx_server.engine.errors import Hint, InstallError, PyxError
from pyx_server.engine.install.contents import WheelContents, scan_contents
from pyx_server.engine.install.installer import InstalledWheel, destinations, install_wheel, move_into
from pyx_server.engine.install.scheme import Scheme
from pyx_server.engine.install.uninstaller import (
    environment_root,
    listed_by_others,
    prune_empty_dirs,
    read_installed_record,
    remove_dist,
)
from pyx_server.engine.install.wheel import parse_record
from pyx_server.engine.progress import Notice, Reporter

STAGING_PREFIX = ".pyx-staging-"


class EnvironmentChange:
    """The removals and installs of one operation on one environment (see the module docstring).

    A context manager (``with``, or ``async with`` around jobs): committed when the block
    succeeds, rolled back when it raises, interruptions included. Hold the environment's lock
    around it. Call ``remove`` and ``claims`` on the operation's thread, and ``install`` from
    jobs (``collect`` gathers their results).
    """

    def __init__(self, site: Path | str, reporter: Reporter | None = None) -> None:
        self.site = os.path.abspath(site)
        self.reporter = reporter or Reporter()
        self.staging = f"{self.site}/{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self._pid = os.getpid()
        #: (staged, original) of every removed file and dist-info, in order
        self._staged: list[tuple[str, str]] = []
        #: installed wheels by dist-info: what a rollback takes out again
        self._done: dict[str, InstalledWheel] = {}
        #: per project: the paths a later package of this install places instead
        self._leave: dict[str, frozenset[str]] = {}
        #: the dist-info directories this install may create, with what each leaves to others
        self._expected: dict[str, frozenset[str]] = {}
        #: the jobs' result streams, closed (so every job has ended) before a rollback
        self._streams: list[Any] = []
        sweep_staging(self.site)

    def __enter__(self) -> EnvironmentChange:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.commit()
            return
        self._undo(exc)

    async def __aenter__(self) -> EnvironmentChange:
        return self

    async def __aexit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.commit()
            return
        for stream in self._streams:
            try:
                await stream.aclose()  # waits for the jobs still running
            except BaseException:  # noqa: BLE001 - the block's exception is the one raised
                pass
        self._undo(exc)

    def _undo(self, exc: BaseException) -> None:
        problems = self.rollback()
        if problems and isinstance(exc, PyxError):  # the promise of the hints no longer holds
            exc.hints = [h for h in exc.hints if "left as it was" not in h]
            exc.hints.append(Hint(f"{len(problems)} files could not be put back: {problems[0]}"))

    # -- removals, on the operation's thread ------------------------------------------------

    def remove(self, dist_info: Path | str) -> list[Path]:
        """Uninstall ``dist_info`` into the staging directory (put back on rollback): files
        another installed distribution lists stay, as in ``uninstaller.uninstall``."""
        dist_info = Path(os.path.abspath(dist_info))
        entries = read_installed_record(dist_info)
        removed, notices = remove_dist(dist_info, entries, keep=listed_by_others(dist_info, entries),
                                       discard=self._stage)
        for notice in notices:
            self.reporter.report(notice)
        return removed

    def _stage(self, path: str) -> None:
        self._staged.append((move_into(self.staging, path), path))

    # -- installs ----------------------------------------------------------------------------

    def claims(self, archives: Mapping[str, Path], scheme: Scheme,
               read: Callable[[Path], WheelContents | None]) -> dict[str, WheelContents]:
        """Decide, before any job runs, which wheel places each path that two of ``archives``
        (unpacked wheels by project) ship, and warn when their copies differ.

        Only the wheels that may share a path (``_suspects``: a top-level name, a launcher, a
        ``.data`` directory) are read (``read``, else a scan); what was read is returned for the
        jobs to reuse. The others' jobs read their own contents, in parallel.
        """
        listings = {name: _Listing.of(Path(archive)) for name, archive in archives.items()}
        contents: dict[str, WheelContents] = {}
        for name in _suspects(listings):
            try:
                contents[name] = read(archives[name]) or scan_contents(archives[name])
            except PyxError:
                raise
            except (OSError, UnicodeDecodeError) as exc:
                raise InstallError(f"cannot read the unpacked wheel `{Path(archives[name]).name}`: {exc}") from exc
        leave, overlaps = claims(contents, scheme)
        # by the project's own spelling (METADATA ``Name``), which is what a job knows
        self._leave = {contents[name].name: paths for name, paths in leave.items()}
        self._expected = {listing.dist_info: leave.get(name, frozenset())
                          for name, listing in listings.items() if listing.dist_info}
        for names, paths in overlaps.items():
            self.reporter.report(_overlap_notice(names, paths, self.site))
        return contents

    def install(self, unpacked: Path, scheme: Scheme, **options: Any) -> InstalledWheel:
        """``install_wheel`` inside this change: what is in the way is staged, contested paths
        are left to the wheel that ``claims`` chose. Safe in threads and forked copies."""
        contents = options.get("contents")
        leave = self._leave.get(contents.name, frozenset()) if contents is not None else frozenset()
        done = install_wheel(unpacked, scheme, staging=self.staging, leave=leave, **options)
        if os.getpid() == self._pid:
            self._done[str(done.dist_info)] = done  # known even if the coordinator never sees it
        return done

    async def collect(self, results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The jobs' results as they come, remembering each installed wheel (jobs that ran in
        this process are known even when their result never arrives: see ``install``)."""
        self._streams.append(results)
        async for result in results:
            for part in result if isinstance(result, tuple) else (result,):
                if isinstance(part, InstalledWheel):
                    self._done[str(part.dist_info)] = part
            yield result

    # -- the end -----------------------------------------------------------------------------

    def commit(self) -> None:
        """Delete what was staged: the removals become final."""
        shutil.rmtree(self.staging, ignore_errors=True)
        for staged, _ in self._staged:  # staged next to the original (another filesystem)
            if not staged.startswith(self.staging + "/"):
                _delete(staged)
        for done in self._done.values():
            for staged, _ in done.moved:
                if not staged.startswith(self.staging + "/"):
                    _delete(staged)

    def rollback(self) -> list[str]:
        """Take out every wheel placed, put back every staged file; what could not be put back."""
        problems: list[str] = []
        done = list(self._done.values())
        emptied: set[str] = set()
        for info, left in self._expected.items():
            # a wheel installed by a forked copy whose result never arrived (an interruption):
            # its dist-info is new, as any old one was staged first
            path = os.path.join(self.site, info)
            if path not in self._done and os.path.isdir(path):
                wheel = InstalledWheel(info, "", Path(path), 0, left=left)
                done.append(wheel)
                emptied.update(os.path.dirname(p) for p in _placed_by(wheel))
                emptied.add(path)
        for wheel in reversed(done):
            for path in _placed_by(wheel):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    problems.append(f"{path}: {exc.strerror}")
        for wheel in reversed(done):
            for staged, original in reversed(wheel.moved):
                _put_back(staged, original, problems)
        for path in sorted({d for wheel in done for d in wheel.created}, key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
        if emptied:
            prune_empty_dirs(emptied, str(environment_root(Path(self.site))), self.site)
        for staged, original in reversed(self._staged):
            _put_back(staged, original, problems)
        if not problems:
            shutil.rmtree(self.staging, ignore_errors=True)
        return problems


def _placed_by(wheel: InstalledWheel) -> Iterator[str]:
    """The files an installed wheel placed: its RECORD but what it left to another wheel."""
    site = str(wheel.dist_info.parent)
    try:
        with open(wheel.dist_info / "RECORD", encoding="utf-8") as f:
            rows = parse_record(f.read(), source=str(wheel.dist_info))
    except (OSError, UnicodeDecodeError, PyxError):
        return
    for row in rows:
        path = os.path.normpath(os.path.join(site, row.path))
        if path not in wheel.left:
            yield path


def _put_back(staged: str, original: str, problems: list[str]) -> None:
    try:
        os.makedirs(os.path.dirname(original), exist_ok=True)
        os.replace(staged, original)
    except OSError as exc:
        problems.append(f"{original}: {exc.strerror}")


def _delete(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def sweep_staging(site: str) -> None:
    """Delete the staging directories in ``site`` of processes that no longer run (killed)."""
    try:
        with os.scandir(site) as it:
            leftovers = [e for e in it if e.name.startswith(STAGING_PREFIX)]
    except OSError:
        return
    for entry in leftovers:
        pid = entry.name[len(STAGING_PREFIX):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def claims(contents: Mapping[str, WheelContents],
           scheme: Scheme) -> tuple[dict[str, frozenset[str]], dict[tuple[str, ...], list[str]]]:
    """Which wheel places each path that several ship: the one whose name sorts last.

    Returns, per project, the paths it leaves to a later one, and, per group of projects whose
    copies of some files differ (by RECORD hash), those files.
    """
    owner: dict[str, tuple[str, str | None]] = {}
    leave: dict[str, set[str]] = {}
    groups: dict[str, list[str]] = {}
    differ: dict[str, None] = {}
    for name in sorted(contents) if len(contents) > 1 else ():
        for path, digest in destinations(contents[name], scheme):
            before = owner.get(path)
            owner[path] = (name, digest)
            if before is None:
                continue
            leave.setdefault(before[0], set()).add(path)
            groups.setdefault(path, [before[0]]).append(name)
            if digest is None or digest != before[1]:
                differ[path] = None
    overlaps: dict[tuple[str, ...], list[str]] = {}
    for path in differ:
        overlaps.setdefault(tuple(groups[path]), []).append(path)
    return {name: frozenset(paths) for name, paths in leave.items()}, overlaps


class _Listing:
    """The top of one unpacked wheel, read with one directory listing (and its launchers'
    names from ``entry_points.txt``): enough to tell which wheels may share a path."""

    __slots__ = ("tops", "dist_info", "data", "data_in_root", "launchers")

    def __init__(self) -> None:
        self.tops: list[str] = []
        self.dist_info = ""
        self.data = False
        self.data_in_root = False
        self.launchers: set[str] = set()

    @classmethod
    def of(cls, archive: Path) -> _Listing | None:
        listing = cls()
        try:
            entries = os.listdir(archive)
        except OSError:
            return None
        for entry in entries:
            if entry.endswith(".dist-info"):
                listing.dist_info = entry
                listing.launchers = _launcher_names(os.path.join(archive, entry, "entry_points.txt"))
            elif entry.endswith(".data"):
                listing.data = True
                listing.data_in_root = bool({"purelib", "platlib"} & set(_listdir(os.path.join(archive, entry))))
            else:
                listing.tops.append(entry)
        return listing


def _launcher_names(path: str) -> set[str]:
    """The script names of ``entry_points.txt`` (a quick superset: exact names come from contents)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return set()
    names: set[str] = set()
    scripts = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            scripts = line.replace(" ", "") in ("[console_scripts]", "[gui_scripts]")
        elif scripts and "=" in line:
            names.add(line.partition("=")[0].strip())
    return names


def _suspects(listings: Mapping[str, _Listing | None]) -> set[str]:
    """The wheels that may share a path with another: those sharing a top-level name or a
    launcher name, and with a ``.data`` directory (compared with every wheel that has launchers,
    or with all when it lands files in the root). Unrelated wheels: no more than the listings."""
    if len(listings) < 2:
        return set()
    if any(listing is None or listing.data_in_root for listing in listings.values()):
        return set(listings)
    tops: dict[str, set[str]] = {}
    scripts: dict[str, set[str]] = {}
    with_data: set[str] = set()
    for name, listing in listings.items():
        assert listing is not None
        for entry in listing.tops:
            tops.setdefault(entry, set()).add(name)
        for launcher in listing.launchers:
            scripts.setdefault(launcher, set()).add(name)
        if listing.data:
            with_data.add(name)
    suspects: set[str] = set()
    for owners in (*tops.values(), *scripts.values()):
        if len(owners) > 1:
            suspects |= owners
    if with_data:
        suspects |= with_data
        suspects.update(*scripts.values())
    return suspects if len(suspects) > 1 else set()


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _overlap_notice(names: tuple[str, ...], paths: list[str], site: str) -> Notice:
    first = os.path.relpath(sorted(paths)[0], site)
    others = f" and {len(paths) - 1} other file{'s' if len(paths) > 2 else ''}" if len(paths) > 1 else ""
    listed = ", ".join(f"`{n}`" for n in names[:-1]) + f" and `{names[-1]}`"
    return Notice(
        f"`{first}`{others} are shipped by {listed} with different contents: "
        f"`{names[-1]}`'s are installed (the last by name)",
        level="warning",
        code="overlapping-files",
        hints=(f"these packages conflict; consider depending on only one of {listed}",),
    )


def all_or_nothing(site: Path | str, reporter: Reporter | None = None) -> EnvironmentChange:
    """An ``EnvironmentChange`` of the environment whose site-packages is ``site``, to use as
    ``with`` / ``async with``: committed when the block succeeds, rolled back when it raises."""
    return EnvironmentChange(site, reporter)


__all__ = ["STAGING_PREFIX", "EnvironmentChange", "all_or_nothing", "claims", "sweep_staging"]
