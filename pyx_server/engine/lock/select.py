"""Pure: what a lock installs on a target (``pyx sync``), and whether it still fits the declarations (``--locked``).

``select_for_environment`` follows the installation steps of PEP 751: check ``requires-python``
and ``environments``; keep the packages whose ``marker`` holds (with the PEP 751 marker
variables ``extras`` and ``dependency_groups``); refuse a package whose ``requires-python``
excludes the target and two entries of one name that both apply; then, per package, the
best wheel for the target's tags (no resolution, no index: the lock alone decides), else
the sdist. ``is_stale`` is the cheap check ``--locked`` needs: it compares the declared
requirements with the locked versions and dependency graph, without resolving.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import LockFileError, LockNotApplicable, NoMatchingDistribution
from pyx_server.engine.lock.build import _requirement
from pyx_server.engine.lock.model import Lock, LockedFile, LockedPackage

__all__ = ["best_wheel", "is_stale", "select_for_environment", "to_dist_file"]


def select_for_environment(
    lock: Lock,
    marker_environment: Mapping[str, str],
    tag_priority: Mapping[Tag, int] | Sequence[Tag | str],
    *,
    extras: Collection[str] = (),
    dependency_groups: Collection[str] | None = None,
    no_build: bool = False,
) -> list[tuple[LockedPackage, LockedFile | None]]:
    """The packages to install on a target and, for each, the file to fetch.

    ``marker_environment`` is the target's PEP 508 environment (``Interpreter.markers``);
    ``tag_priority`` its supported tags, as ``Interpreter.tag_priority()`` (tag → rank, lower
    is better) or best first. ``dependency_groups`` defaults to the lock's
    ``default-groups``. The file is the best-ranked compatible wheel, else the sdist (unless
    ``no_build``), the ``archive`` of a direct reference, or None for a ``vcs``/``directory``
    source (built from ``package.vcs``/``package.directory``). Raises ``LockNotApplicable``
    when the lock does not cover the target, ``LockFileError`` for an ambiguous lock, and
    ``NoMatchingDistribution`` when no file of a package fits.
    """
    priority = _priority(tag_priority)
    python = _python_version(marker_environment)
    groups = (lock.default_groups or ()) if dependency_groups is None else dependency_groups
    if lock.requires_python is not None and python is not None:
        if not lock.requires_python.contains(python, prereleases=True):
            raise LockNotApplicable(
                f"the lock needs Python `{lock.requires_python}`, and the target is Python `{python}`",
                context={"requires-python": str(lock.requires_python), "python": str(python)},
                hints=["re-lock for this Python, or choose an interpreter the lock covers"],
            )
    if lock.environments is not None:
        if not any(_evaluate(m, marker_environment) for m in lock.environments):
            shown = ", ".join(f"`{m}`" for m in lock.environments) or "(none)"
            raise LockNotApplicable(
                f"the lock covers none of this target's environment: its environments are {shown}",
                context={"environments": shown},
                hints=["re-lock on this platform"],
            )
    chosen: dict[str, LockedPackage] = {}
    for package in lock.packages:
        if package.marker is not None and not _evaluate_lock_marker(package, marker_environment, extras, groups):
            continue
        if package.requires_python is not None and python is not None:
            if not package.requires_python.contains(python, prereleases=True):
                raise LockNotApplicable(
                    f"`{package}` in the lock needs Python `{package.requires_python}`, "
                    f"and the target is Python `{python}`",
                    context={"package": str(package.name), "requires-python": str(package.requires_python)},
                    hints=["re-lock for this Python"],
                )
        if package.name in chosen:
            raise LockFileError(
                f"two entries for `{package.name}` apply to this environment: `{chosen[package.name]}` and `{package}`",
                context={"package": str(package.name)},
                hints=["PEP 751 needs markers that leave one entry per package; regenerate the lock"],
            )
        chosen[package.name] = package
    return [(package, _file_for(package, priority, no_build)) for package in chosen.values()]


def _file_for(package: LockedPackage, priority: Mapping[Tag, int], no_build: bool) -> LockedFile | None:
    if package.vcs is not None or package.directory is not None:
        return None
    if package.archive is not None:
        return package.archive
    best = best_wheel(package.wheels, priority)
    if best is not None:
        return best
    if package.sdist is not None and not no_build:
        return package.sdist
    names = ", ".join(f"`{w.filename}`" for w in package.wheels[:4])
    hints = []
    if names:
        hints.append(f"the lock has wheels for other platforms only: {names}")
    if package.sdist is not None:
        hints.append("the lock has an sdist, and building is turned off (`--no-build`)")
    else:
        hints.append("the lock has no sdist to build from")
    hints.append("re-lock on this platform")
    raise NoMatchingDistribution(
        f"no file of `{package}` in the lock can be installed on this target",
        context={"package": str(package.name)},
        hints=hints,
    )


def best_wheel(wheels: Iterable[LockedFile], priority: Mapping[Tag, int]) -> LockedFile | None:
    """The wheel whose best tag ranks first for the target (ties: higher build number, then name)."""
    best_key, best = None, None
    for wheel in wheels:
        try:
            _, _, build, tags = parse_wheel_filename(wheel.filename)
        except InvalidWheelFilename:
            continue
        ranks = [priority[t] for t in tags if t in priority]
        if not ranks:
            continue
        key = (min(ranks), -(build[0] if build else -1), wheel.filename)
        if best_key is None or key < best_key:
            best_key, best = key, wheel
    return best


def is_stale(
    lock: Lock,
    requirements: Iterable[Any],
    requires_python: str | SpecifierSet | None = None,
    *,
    marker_environment: Mapping[str, str] | None = None,
) -> str | None:
    """Why ``lock`` no longer matches the declared ``requirements``, or None when it still does.

    Stale when: ``requires_python`` (if given) differs from the lock's; a requirement is not
    satisfied by the locked versions (or the package is missing); a requirement asks for
    extras the lock was not made with (known from ``[tool.pyx] requirements``); a locked
    package is no longer reachable from the requirements through ``dependencies`` (checked
    only when the lock records dependencies, as pyx's do). A requirement whose marker is
    false for ``marker_environment`` is not needed; without an environment, a requirement
    with a marker is checked only when its package is in the lock.

    ``requirements`` should be everything the lock covers (every dependency group and extra
    it was made with, and the project itself if it is locked as a ``directory``): a locked
    package none of them reaches counts as no longer needed.
    """
    if requires_python is not None:
        wanted = SpecifierSet(str(requires_python))
        if lock.requires_python is None:
            return f"`requires-python` is now `{wanted}`, and the lock was made without one"
        if lock.requires_python != wanted:
            return f"`requires-python` changed from `{lock.requires_python}` to `{wanted}`"
    reqs = [_requirement(r) for r in requirements]
    by_name: dict[str, list[LockedPackage]] = {}
    for package in lock.packages:
        by_name.setdefault(package.name, []).append(package)
    recorded = _recorded(lock)
    for req in reqs:
        name = canonicalize_name(req.name)
        if req.marker is not None and marker_environment is not None:
            if not _evaluate(req.marker, marker_environment, extra=""):
                continue
        locked = by_name.get(name)
        if not locked:
            if req.marker is not None and marker_environment is None:
                continue
            return f"`{req}` is required, and `{name}` is not in the lock"
        if not any(_satisfies(p, req) for p in locked):
            shown = ", ".join(f"`{_describe(p)}`" for p in locked)
            return f"`{req}` is not satisfied by the locked {shown}"
        if req.extras and recorded is not None:
            had = recorded.get(name, set())
            missing = {canonicalize_name(e) for e in req.extras} - had
            if missing:
                shown = ", ".join(f"`{e}`" for e in sorted(missing))
                return f"`{req}` asks for extras {shown} the lock was not made with"
    if any(p.dependencies for p in lock.packages) or lock.created_by == "pyx":
        reachable = _reachable({canonicalize_name(r.name) for r in reqs}, lock)
        for package in lock.packages:
            if package.name not in reachable:
                return f"`{package}` is locked, and nothing requires it any more"
    return None


def to_dist_file(package: LockedPackage, file: LockedFile, lock_dir: Path | str) -> Any:
    """The ``simple.DistFile`` to fetch for a selected lock file (a ``path`` wins over a
    ``url``, relative to ``lock_dir``), so downloads and hash checks reuse the index client."""
    from pyx_server.engine.index.distfile import DistFile

    if file.path is not None:
        location = Path(file.path)
        if not location.is_absolute():
            location = Path(lock_dir) / location
        url = location.resolve().as_uri()
    else:
        url = file.url or ""
    return DistFile(
        filename=file.filename,
        url=url,
        index=package.index or "",
        hashes=dict(file.hashes),
        requires_python=str(package.requires_python) if package.requires_python is not None else None,
        size=file.size,
        upload_time=file.upload_time,
    )


# -- helpers ------------------------------------------------------------------------------


def _priority(tag_priority: Mapping[Tag, int] | Sequence[Tag | str]) -> Mapping[Tag, int]:
    if isinstance(tag_priority, Mapping):
        return tag_priority
    priority: dict[Tag, int] = {}
    for rank, entry in enumerate(tag_priority):
        for tag in parse_tag(entry) if isinstance(entry, str) else (entry,):
            priority.setdefault(tag, rank)
    return priority


def _python_version(environment: Mapping[str, str]) -> Version | None:
    text = environment.get("python_full_version") or environment.get("python_version")
    if not text:
        return None
    try:
        return Version(text.rstrip("+"))  # CPython built from a git checkout says "3.13.0+"
    except InvalidVersion:
        return None


def _evaluate(marker: Marker, environment: Mapping[str, str], extra: str | None = None) -> bool:
    env = dict(environment)
    if extra is not None:
        env["extra"] = extra
    return marker.evaluate(env)


def _evaluate_lock_marker(
    package: LockedPackage, environment: Mapping[str, str], extras: Collection[str], groups: Collection[str]
) -> bool:
    """A package's marker, with PEP 751's ``extras`` and ``dependency_groups`` set variables."""
    marker = package.marker
    assert marker is not None
    env: dict[str, Any] = dict(environment)
    env["extras"] = frozenset(canonicalize_name(e) for e in extras)
    env["dependency_groups"] = frozenset(canonicalize_name(g) for g in groups)
    try:
        try:
            return marker.evaluate(env, context="lock_file")
        except TypeError:  # packaging older than 25: no lock-file markers
            return marker.evaluate(dict(environment))
    except Exception as exc:  # e.g. `extra == 'x'`, which a lock file cannot use (PEP 751 has `extras`)
        raise LockFileError(
            f"the marker `{marker}` of `{package}` cannot be evaluated: {exc}",
            context={"package": str(package.name), "marker": str(marker)},
            hints=["PEP 751 markers test `'name' in extras` and `'name' in dependency_groups`"],
        ) from exc


def _satisfies(package: LockedPackage, req: Requirement) -> bool:
    if req.url:
        return _same_source(package, req.url)
    if package.version is None:
        return True  # a source tree: its version is not locked (PEP 751), any specifier may hold
    return req.specifier.contains(package.version, prereleases=True)


def _same_source(package: LockedPackage, url: str) -> bool:
    """Whether a direct-reference requirement still names the locked source (by URL, or by
    the last path part for local files and trees, whose recorded paths are lock-relative)."""
    bare = url.split("#", 1)[0]
    tail = unquote(urlsplit(bare).path.rstrip("/").rpartition("/")[2])
    if package.archive is not None:
        return package.archive.url == bare or package.archive.filename == tail
    if package.vcs is not None:
        location = bare.split("+", 1)[-1]
        parts = urlsplit(location)
        return package.vcs.url == parts._replace(path=parts.path.rpartition("@")[0] or parts.path).geturl()
    if package.directory is not None:
        path = package.directory.path.replace("\\", "/").rstrip("/")
        return path in (".", "") or path.rpartition("/")[2] == tail
    return False


def _describe(package: LockedPackage) -> str:
    if package.version is not None:
        return f"{package.name}=={package.version}"
    if package.directory is not None:
        return f"{package.name} @ {package.directory.path}"
    return str(package.name)


def _recorded(lock: Lock) -> dict[str, set[str]] | None:
    """name → extras of the requirements ``[tool.pyx] requirements`` records, if it does."""
    pyx = lock.tool.get("pyx")
    texts = pyx.get("requirements") if isinstance(pyx, Mapping) else None
    if not isinstance(texts, list):
        return None
    recorded: dict[str, set[str]] = {}
    for text in texts:
        try:
            req = Requirement(str(text))
        except Exception:
            continue
        recorded.setdefault(canonicalize_name(req.name), set()).update(canonicalize_name(e) for e in req.extras)
    return recorded


def _reachable(roots: set[str], lock: Lock) -> set[str]:
    edges: dict[str, set[str]] = {}
    for package in lock.packages:
        edges.setdefault(package.name, set()).update(d.name for d in package.dependencies)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(edges.get(name, ()))
    return seen
