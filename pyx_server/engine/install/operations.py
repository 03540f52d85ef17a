"""The engine's public operations: what every front calls (sync, install, uninstall, list).

Each operation is async, takes typed options and a ``Reporter``, and returns a typed result;
failures are ``PyxError`` subclasses. The order of work follows "plan, then act":

1. read what is installed (no process spawned, no network) and ``plan.partition`` it against
   the requirements — when nothing is missing, the operation ends here (the no-op path);
2. ask the indexes which file to use for each remaining requirement (cached HTTP);
3. ``plan.make_plan``: cached vs remote — ``dry_run`` stops here and returns the plan;
4. download and unpack the remote wheels into the global cache, in parallel (nothing in the
   environment is touched yet, so a network failure leaves it as it was);
5. uninstall what is replaced or extraneous, and link the new wheels in.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from pyx_server.engine.install import plan as planning
from pyx_server.engine.cache import Bucket, Cache, WheelPointer, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import (
    HashMismatch,
    InstallError,
    InvalidRequirement,
    PackageNotFound,
    PyxError,
)
from pyx_server.engine.progress import (
    Installed,
    Notice,
    PhaseFinished,
    PhaseStarted,
    Reporter,
    Uninstalled,
)
from pyx_server.engine.requirements import RequirementSpec


@dataclass(frozen=True)
class InstallOptions:
    """How to install; defaults are what a plain ``pyx pip install --no-deps`` does."""

    #: remove installed distributions the requirements do not name (``pip sync``)
    exact: bool = False
    #: reinstall everything (True) or these names
    reinstall: bool | frozenset[str] = False
    dry_run: bool = False
    #: every requirement must be pinned with ``==`` and carry ``--hash`` values
    require_hashes: bool = False
    link_mode: str | None = None
    prereleases: bool = False
    #: ask the indexes again even for pins whose wheel the cache already has
    refresh: bool = False
    #: install into a non-virtual Python even if its distributor manages it (PEP 668)
    break_system_packages: bool = False
    #: resolve dependencies (``pip install``); otherwise install exactly what is named
    resolve: bool = False
    #: how to resolve (pre-releases, strategy, upgrades, constraints, overrides):
    #: a ``resolve.ResolveOptions`` (imported lazily: the no-op path never loads the resolver)
    resolve_options: object | None = None


@dataclass
class Change:
    name: str
    version: str


@dataclass
class InstallResult:
    """What an install did (or, with ``dry_run``, would do)."""

    plan: planning.Plan
    installed: list[Change] = field(default_factory=list)
    uninstalled: list[Change] = field(default_factory=list)
    #: requirements skipped because their marker excludes this interpreter
    skipped: list[str] = field(default_factory=list)
    link_mode: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: seconds spent per phase: resolve, prepare, uninstall, install
    timings: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False
    #: requirements already satisfied (audited without change)
    audited: int = 0
    #: the resolution behind the install (``pip install`` with dependencies)
    resolution: object | None = None


def audit(
    requirements: Sequence[RequirementSpec], env, options: InstallOptions = InstallOptions()
) -> InstallResult | None:
    """The no-op check, synchronous and offline: a result when nothing needs doing, else None.

    Fronts call it first so that "already in sync" costs no event loop, no HTTP client and
    no interpreter process (``install`` does the same check).
    """
    started = time.perf_counter()
    if options.require_hashes:
        _check_hash_mode(requirements)
    return _noop_result(_partition(requirements, env, options), options, started)


def _noop_result(part: planning.Partition, options: InstallOptions, started: float) -> InstallResult | None:
    if part.to_install or part.extraneous:
        return None
    return InstallResult(
        planning.Plan(unchanged=part.unchanged),
        skipped=[str(s) for s in part.skipped],
        dry_run=options.dry_run,
        audited=len(part.unchanged),
        timings={"resolve": time.perf_counter() - started},
    )


def _partition(
    requirements: Sequence[RequirementSpec], env, options: InstallOptions, installed: Mapping | None = None
) -> planning.Partition:
    needs_markers = any(spec.requirement.marker is not None for spec in requirements)
    return planning.partition(
        requirements,
        env.installed() if installed is None else installed,
        markers=env.interpreter.markers if needs_markers else None,
        exact=options.exact,
        reinstall=options.reinstall,
    )


async def install(
    requirements: Sequence[RequirementSpec],
    env,
    *,
    index: IndexSettings,
    cache: Cache,
    options: InstallOptions = InstallOptions(),
    reporter: Reporter | None = None,
    build=None,
    files: Mapping[NormalizedName, object] | None = None,
    wait: bool = True,
) -> InstallResult:
    """Install ``requirements`` into ``env``: exactly what is named, or (``options.resolve``)
    with everything it depends on. Wheels, sdists and source trees; sdists are built
    (``build``: a ``building.BuildSupport``, made here when not given).

    With ``options.exact`` this is ``pip sync``: distributions not named are removed.

    Plan and act happen under one hold of the environment's lock (``environment_lock``), so
    what is installed cannot change between reading it and acting on it; the cache is held
    shared meanwhile (``Cache.in_use``: ``cache clean`` waits). Another operation holding the
    environment is waited for with a notice, or (``wait=False``) is a ``Busy`` error.
    """
    reporter = reporter or Reporter()
    started = time.perf_counter()
    if options.require_hashes:
        _check_hash_mode(requirements)
    async with cache.in_use(reporter=reporter, wait=wait), environment_lock(env, cache, reporter=reporter, wait=wait):
        return await _install(requirements, env, index, cache, options, reporter, build, files, started)


async def _install(requirements, env, index: IndexSettings, cache: Cache, options: InstallOptions,
                   reporter: Reporter, build, files, started: float) -> InstallResult:
    # Reading the environment (and, once, asking its interpreter) is blocking file work: a
    # server's loop goes on meanwhile (``to_thread``; called directly without a loop).
    from pyx_server.engine.loop import to_thread

    if not options.break_system_packages:
        await to_thread(_check_not_externally_managed, env)
    installed = await to_thread(env.installed)
    #: the file to install per name, when a lock or a resolution already chose it
    chosen: Mapping[NormalizedName, object] = dict(files or {})
    requested: frozenset[str] | None = None
    resolution = None
    if options.resolve:
        satisfied = await to_thread(_already_satisfied, requirements, env, installed, options, started)
        if satisfied is not None:
            return satisfied
        reporter.report(PhaseStarted("resolve", len(requirements)))
        build = build or _build_support(index, cache, env, reporter)
        resolved = await _resolve(requirements, env, installed, index, cache, options, reporter, build)
        resolution = resolved.resolution
        requested = frozenset(s.name for s in requirements)
        chosen = {**resolved.files, **chosen}
        requirements = _pins(resolved, requirements)
    part = await to_thread(_partition, requirements, env, options, installed)
    noop = _noop_result(part, options, started)
    if noop is not None:
        noop.resolution = resolution
        return noop
    skipped = [str(s) for s in part.skipped]

    if not options.resolve:
        reporter.report(PhaseStarted("resolve", len(part.to_install)))
    interpreter = await to_thread(getattr, env, "interpreter")
    build = build or _build_support(index, cache, env, reporter)
    unpackers = _Unpackers(enabled=not options.dry_run, index=index, reporter=reporter)
    fetcher = _Fetcher(index, cache, reporter, unpackers)
    try:
        sources = await _choose_wheels(part.to_install, interpreter, index, cache, options, chosen, requested, build,
                                       reporter, before_index=unpackers.start,
                                       on_chosen=None if options.dry_run else fetcher.soon)
        timings = {"resolve": time.perf_counter() - started}
        reporter.report(PhaseFinished("resolve", len(sources), timings["resolve"]))
        # a wheel this install already started fetching is remote, even if it has arrived
        plan = planning.make_plan(part, sources, installed,
                                  archive_for=lambda s: None if fetcher.started(s) else _cached_archive(cache, s))
        result = InstallResult(plan, skipped=skipped, dry_run=options.dry_run, audited=len(part.unchanged))
        result.timings = timings
        result.resolution = resolution
        if options.dry_run:
            return result

        # -- fetch: nothing in the environment changes until every wheel is in the cache
        archives: dict[NormalizedName, Path] = {p.source.name: p.archive for p in plan.cached if p.archive}
        for p in plan.cached:
            if p.source.file is not None and cache.read_pointer(_source_key(p.source), p.source.name, p.source.filename) is None:
                _remember(cache, p.source, p.archive.name)
        if plan.remote:
            unpackers.start()
            t = time.perf_counter()
            reporter.report(PhaseStarted("prepare", len(plan.remote)))
            fetched = await fetcher.fetch(plan.remote)
            archives.update(fetched)
            timings["prepare"] = time.perf_counter() - t
            reporter.report(PhaseFinished("prepare", len(fetched), timings["prepare"]))
    finally:
        try:
            await fetcher.close()
        finally:
            unpackers.close()

    # -- act: remove what is extraneous, then link the new wheels in; a replaced version is
    # swapped by ``replace_wheel`` (new files first), so a failed upgrade keeps the old one.
    await _act(plan, archives, env, interpreter, options, result, reporter, cache)
    if options.resolve:
        result.warnings += await to_thread(_broken_by, result, env)
    return result


def _broken_by(result: InstallResult, env) -> list[str]:
    """Requirements of other installed packages that this install left unmet (pip warns too)."""
    from pyx_server.engine.install.check import check_environment

    changed = {c.name for c in result.installed} | {c.name for c in result.uninstalled}
    problems = check_environment(env.installed(), env.interpreter.markers)
    return [
        f"{problem}" for problem in problems
        if canonicalize_name(problem.requirement.name) in changed
    ]


def environment_lock(env, cache: Cache, *, reporter: Reporter | None = None, wait: bool = True):
    """``async with environment_lock(env, cache):`` holds one environment's lock: two operations
    (processes, threads, coroutines) never change it at once (``engine.locks``).

    A venv holds its own ``.lock`` (as uv's do); another Python's lock lives in the cache's
    ``environments-v1`` bucket, which ``prune`` leaves alone.
    """
    from pyx_server.engine import locks

    return locks.hold(environment_lock_file(env, cache), what=f"the environment `{env.root}`",
                      reporter=reporter, wait=wait)


def environment_lock_file(env, cache: Cache) -> Path:
    """The lock file of ``env`` (see ``environment_lock``)."""
    if env.is_venv:
        return env.root / ".lock"
    return cache.root / Bucket.ENVIRONMENTS.value / f"{digest(str(env.root))}.lock"


async def _act(plan: planning.Plan, archives, env, interpreter, options: InstallOptions, result: InstallResult,
               reporter: Reporter, cache: Cache) -> None:
    from pyx_server.engine.install.contents import cached_contents
    from pyx_server.engine.install.installer import install_wheel, replace_wheel, uninstall
    from pyx_server.engine.install.linker import Linker, link_mode_from_env
    from pyx_server.engine.loop import completed

    timings = result.timings

    if plan.extraneous:
        t = time.perf_counter()
        reporter.report(PhaseStarted("uninstall", len(plan.extraneous)))
        for dist in plan.extraneous:
            uninstall(dist.dist_info, reporter=reporter)
            result.uninstalled.append(Change(dist.name, str(dist.version)))
            reporter.report(Uninstalled(dist.name, str(dist.version)))
        timings["uninstall"] = time.perf_counter() - t
        reporter.report(PhaseFinished("uninstall", len(plan.extraneous), timings["uninstall"]))

    if plan.installs:
        t = time.perf_counter()
        reporter.report(PhaseStarted("install", len(plan.installs)))
        linker = Linker(link_mode_from_env(options.link_mode))
        scheme = interpreter.scheme
        python = str(interpreter.executable)
        replaced = {d.name: d for d in plan.reinstall}

        store = cache.bucket(Bucket.CONTENTS)
        archive_bucket = cache.root / Bucket.ARCHIVE.value

        def one(p: planning.PlannedWheel):
            archive = archives[p.source.name]
            kwargs = {
                "requested": p.source.requested,
                "direct_url": _direct_url(p.source, archive) if p.source.direct else None,
                "contents": cached_contents(archive, store) if archive.parent == archive_bucket else None,
            }
            old = replaced.get(p.source.name)
            if old is not None:
                return old, replace_wheel(old.dist_info, archive, scheme, python=python, linker=linker, reporter=reporter, **kwargs)
            return None, install_wheel(archive, scheme, python=python, linker=linker, **kwargs)

        def size(p: planning.PlannedWheel) -> int:
            # the stored contents grow with the file count, and a stat parses nothing here
            try:
                return os.stat(store / f"{archives[p.source.name].name}.json").st_size
            except OSError:
                return 0

        # Linking is system calls that release the GIL: one thread per core keeps both busy
        # without the lock hand-offs more threads cost. The largest wheels start first, so
        # no core is left with numpy alone at the end; each thread reads its wheels' contents.
        order = sorted(plan.installs, key=size, reverse=True)
        # A fresh install (nothing replaced, so no event to report from inside a job) may run
        # in forked processes: see ``engine.forked``.
        async for old, done in completed(one, order, workers=min(os.cpu_count() or 1, 4),
                                         processes_ok=not replaced, weight=size):
            if old is not None:
                result.uninstalled.append(Change(old.name, str(old.version)))
            result.installed.append(Change(done.name, done.version))
            reporter.report(Installed(done.name, done.version))
        result.installed.sort(key=lambda c: c.name)
        result.link_mode = linker.effective_mode.value
        warning = getattr(linker, "warning", None)
        if warning:
            result.warnings.append(warning)
            reporter.report(Notice(warning, "warning"))
        timings["install"] = time.perf_counter() - t
        reporter.report(PhaseFinished("install", len(plan.installs), timings["install"]))


def _check_not_externally_managed(env) -> None:
    """PEP 668: a Python whose distributor manages its packages is not installed into directly."""
    if env.is_venv:
        return
    interpreter = env.interpreter
    marker = Path(interpreter.base_prefix) / "lib" / f"python{interpreter.version_short}" / "EXTERNALLY-MANAGED"
    if marker.is_file():
        raise PyxError(
            f"the Python at `{interpreter.executable}` is externally managed (PEP 668): "
            "its distributor installs its packages",
            context={"marker": marker},
            hints=[
                "create a virtual environment with `pyx venv` and install there",
                "or pass `--break-system-packages` if you really mean to change it",
            ],
        )


def _check_hash_mode(requirements: Sequence[RequirementSpec]) -> None:
    for spec in requirements:
        if not spec.hashes:
            raise HashMismatch(
                f"`{spec}` has no `--hash` ({spec.source}), and hashes are required",
                hints=["in hash-checking mode every requirement needs `--hash=sha256:…`; "
                       "`pyx pip compile --generate-hashes` writes them"],
            )
        if not spec.url and spec.pinned_version is None:
            raise HashMismatch(
                f"`{spec}` is not pinned with `==` ({spec.source}), and hashes are required",
                hints=["in hash-checking mode every requirement must be pinned exactly"],
            )


# -- choosing wheels -------------------------------------------------------------------------


def _already_satisfied(requirements, env, installed, options: InstallOptions, started: float) -> InstallResult | None:
    """``pip install`` of what is already there (with everything it needs): no network at all."""
    ropts = options.resolve_options
    if options.reinstall or getattr(ropts, "upgrade", False) or getattr(ropts, "upgrade_packages", None):
        return None
    from pyx_server.engine.install.check import unsatisfied

    markers = env.interpreter.markers
    if unsatisfied([(None, s.requirement) for s in requirements], installed, markers):
        return None
    return InstallResult(
        planning.Plan(), dry_run=options.dry_run, audited=len(requirements),
        timings={"resolve": time.perf_counter() - started},
    )


def _build_support(index: IndexSettings, cache: Cache, env, reporter: Reporter):
    from pyx_server.engine.install.builds import BuildSupport

    return BuildSupport(index, cache, env.interpreter, reporter)


async def _resolve(requirements, env, installed, index, cache, options: InstallOptions, reporter, build):
    from pyx_server.engine.index.resolve import ResolveOptions, resolve_requirements

    ropts = options.resolve_options or ResolveOptions()
    preferences = {} if ropts.upgrade else {name: d.version for name, d in installed.items()}
    return await resolve_requirements(
        requirements,
        env.interpreter,
        index=index,
        cache=cache,
        options=ropts,
        preferences=preferences,
        reporter=reporter,
        sdist_metadata=build.metadata,
    )


def _pins(resolved, requirements: Sequence[RequirementSpec]) -> list[RequirementSpec]:
    """The resolution as exact requirements (direct URL packages keep their URL requirement)."""
    from packaging.requirements import Requirement

    by_name = {s.name: s for s in requirements}
    pins = []
    for name, package in resolved.resolution.items():
        spec = by_name.get(name)
        if package.candidate.url is not None and spec is not None:
            pins.append(spec)
            continue
        hashes = spec.hashes if spec is not None else {}
        pins.append(RequirementSpec(Requirement(f"{name}=={package.version}"), "resolution", hashes))
    return pins


async def _choose_wheels(
    specs: Sequence[RequirementSpec],
    interpreter,
    index: IndexSettings,
    cache: Cache,
    options: InstallOptions,
    chosen: Mapping[NormalizedName, object] | None = None,
    requested: frozenset[str] | None = None,
    build=None,
    reporter: Reporter | None = None,
    before_index=None,
    on_chosen=None,
) -> list[planning.WheelSource]:
    """The wheel to install for each requirement: ``chosen`` files (from a resolution) first,
    then cached pins, then the indexes. ``requested`` names get a ``REQUESTED`` file (all if None).
    ``before_index`` is called before an index is first asked (wheels will likely be fetched);
    ``on_chosen(source)`` as soon as an exact pin's wheel is picked from its page, while the
    other pages are still being read."""
    from pyx_server.engine.install.wheel import parse_wheel_name

    sources: list[planning.WheelSource] = []
    chosen = chosen or {}

    def is_requested(name: str) -> bool:
        return requested is None or name in requested

    by_index = []
    for spec in specs:
        if spec.url:
            continue
        file = chosen.get(spec.name)
        if file is None:
            by_index.append(spec)
            continue
        sources.append(await _index_source(file, spec, is_requested(file.name), build))
    for spec in specs:
        if spec.url and not _is_wheel_location(spec):
            sources.append(await _built_source(build, spec.path or _direct_file(_spec_source(spec)), spec,
                                               is_requested(spec.name), direct=True))
            continue
        if spec.url:
            wheel = parse_wheel_name(spec.path.name if spec.path else spec.url.split("#")[0].rsplit("/", 1)[-1])
            if not spec.requirement.specifier.contains(wheel.version, prereleases=True):
                raise InvalidRequirement(f"`{wheel.filename}` is version {wheel.version}, which `{spec}` excludes")
            if interpreter.supports(wheel.tags) is None:
                raise PyxError(
                    f"`{wheel.filename}` is not compatible with this interpreter ({_python_label(interpreter)})",
                    hints=["choose a wheel whose tags match this Python and platform"],
                )
            sources.append(
                planning.WheelSource(
                    name=wheel.name,
                    version=wheel.version,
                    filename=wheel.filename,
                    file=None,
                    path=spec.path,
                    url=spec.url,
                    allowed_hashes=spec.hashes,
                    sha256=(spec.hashes.get("sha256") or (None,))[0] if len(spec.hashes.get("sha256", ())) == 1 else None,
                    direct=True,
                    requested=is_requested(wheel.name),
                )
            )
    if not options.refresh and not index.offline:
        # exact pins already in the cache need no index page (uv's registry wheel index):
        # a file name on an index is immutable, so the cached wheel is the one the index serves
        remaining = []
        for spec in by_index:
            cached = _cached_pin(spec, interpreter, index, cache)
            if cached is not None:
                sources.append(cached)
            else:
                remaining.append(spec)
        by_index = remaining
    if not by_index:
        return sources
    if before_index is not None:
        before_index()
    python_version = Version(".".join(map(str, interpreter.version)))
    import asyncio  # only now: a warm install of cached pins runs without an event loop (engine.loop)

    from pyx_server.engine.errors import NoMatchingDistribution
    from pyx_server.engine.index.client import IndexClient, ProjectNotFound  # httpx: only when an index is asked
    from pyx_server.engine.install.selector import PinnedVersions, select_file

    async with IndexClient(index, cache, reporter) as client:
        # exact pins only need the files of their version: the rest of a page is not parsed
        filters = [PinnedVersions(spec.requirement.specifier) if spec.pinned_version else None for spec in by_index]

        async def page_of(spec: RequirementSpec, versions):
            page = await client.project(spec.name, versions=versions)
            if versions is None or isinstance(page, ProjectNotFound):
                return page
            try:
                picked = _select(spec, page, python_version, interpreter, options, select_file, build is not None)
            except NoMatchingDistribution:
                # explain the miss with the whole page (every version, every file)
                return await client.project(spec.name)
            if on_chosen is not None and picked.file.is_wheel:
                on_chosen(await _index_source(picked.file, spec, is_requested(spec.name), build))
            return page

        pages = await asyncio.gather(*(page_of(s, f) for s, f in zip(by_index, filters)))

    for spec, page in zip(by_index, pages):
        if isinstance(page, ProjectNotFound):
            searched = ", ".join(f"`{s}`" for s in page.searched) or "no index (`--no-index`)"
            raise PackageNotFound(
                f"`{spec.name}` was not found in the package registry ({spec.source})",
                context={"searched": searched},
                hints=[f"searched: {searched}", "check the spelling, or add the index that hosts it with `--index-url`"],
            )
        try:
            chosen = _select(spec, page, python_version, interpreter, options, select_file, build is not None)
        except NoMatchingDistribution as exc:
            exc.hints += _first_index_hints(spec.name, page, index)
            raise
        sources.append(await _index_source(chosen.file, spec, is_requested(spec.name), build))
    return sources


def _first_index_hints(name: str, page, index: IndexSettings) -> list[str]:
    """When ``name`` was taken from an index that is not the last one, say that the later ones
    were not asked (uv's first-index strategy, against dependency confusion) and how to ask them."""
    answered = getattr(page, "index", None)
    searched = [redact_url(u) for u in index.indexes_for(name)]
    if index.strategy != "first-index" or answered not in searched or answered == searched[-1]:
        return []
    later = ", ".join(f"`{u}`" for u in searched[searched.index(answered) + 1 :])
    return [
        f"`{name}` was found on `{answered}`, so the later indexes ({later}) were not asked: a "
        "package comes from the first index that has it, which keeps an index from replacing another's",
        "if every index is trusted, `--index-strategy unsafe-best-match` considers the versions of all of them",
    ]


async def _index_source(file, spec: RequirementSpec, requested: bool, build) -> planning.WheelSource:
    """What to install for ``file`` from an index or a lock: the wheel itself, or one built from the sdist."""
    if not file.is_wheel:
        return await _built_source(build, file, spec, requested)
    return planning.WheelSource(
        name=file.name,
        version=file.version,
        filename=file.filename,
        file=file,
        path=_file_path(file.url),
        url=file.url,
        allowed_hashes=spec.hashes,
        sha256=file.hashes.get("sha256"),
        requested=requested,
    )


def _select(spec: RequirementSpec, page, python_version: Version, interpreter, options: InstallOptions, select_file,
            allow_sdist: bool = False):
    return select_file(
        spec.name,
        page.files,
        spec.requirement.specifier,
        python_version=python_version,
        tag_rank=interpreter.supports,
        allowed_hashes=dict(spec.hashes) or None,
        prereleases=options.prereleases,
        requirement_text=str(spec.requirement),
        allow_sdist=allow_sdist,
    )


def _is_wheel_location(spec: RequirementSpec) -> bool:
    if spec.path is not None:
        return spec.path.is_file() and spec.path.name.endswith(".whl")
    return spec.url.split("#", 1)[0].endswith(".whl")


def _spec_source(spec: RequirementSpec) -> planning.WheelSource:
    """A stand-in source for an sdist named by URL (only its URL and hashes are used)."""
    filename = spec.url.split("#", 1)[0].rsplit("/", 1)[-1]
    return planning.WheelSource(spec.name, Version("0"), filename, None, None, spec.url, spec.hashes)


async def _built_source(build, source, spec: RequirementSpec, requested: bool, *, direct: bool = False) -> planning.WheelSource:
    """Build ``source`` (an sdist ``DistFile`` or a source-tree ``Path``) and describe the wheel.

    ``direct`` installs (URL, path, ``-e``) record where they came from (PEP 610): the tree
    (``dir_info``, editable or not) or the sdist's URL (``archive_info``), not the built wheel.
    """
    from pyx_server.engine.install.wheel import parse_wheel_name

    if build is None:
        raise PyxError(f"`{spec}` needs a build from source, and building is turned off")
    editable = bool(spec.editable)
    wheel_path = await build.wheel(source, editable=editable)
    wheel = parse_wheel_name(wheel_path.name)
    origin = None
    if direct:
        if isinstance(source, Path) and source.is_dir():
            origin = {"url": source.as_uri(), "dir_info": {"editable": True} if editable else {}}
        else:
            url = source.as_uri() if isinstance(source, Path) else redact_url(source.url)
            origin = {"url": url, "archive_info": {}}
    return planning.WheelSource(
        name=wheel.name,
        version=wheel.version,
        filename=wheel.filename,
        file=None,
        path=wheel_path,
        url=wheel_path.as_uri(),
        direct=direct,
        requested=requested,
        origin=origin,
    )


def _cached_pin(spec: RequirementSpec, interpreter, index: IndexSettings, cache: Cache) -> planning.WheelSource | None:
    """A wheel for ``name==X`` that the cache already holds from a configured index, or None.

    The first index (in priority order) with a cached compatible wheel of that version wins;
    among its wheels the best-ranked tag. User hashes must match the cached digest.
    """
    version = spec.pinned_version
    if version is None:
        return None
    from pyx_server.engine.index.simple import DistFile
    from pyx_server.engine.install.wheel import parse_wheel_name

    for location in (*index.find_links, *index.indexes):
        shown = redact_url(location)
        directory = cache.root / "wheels-v1" / ("index-" + digest(shown)) / spec.name
        try:
            entries = [e.name[: -len(".json")] for e in os.scandir(directory) if e.name.endswith(".whl.json")]
        except OSError:
            continue
        best = None
        for filename in entries:
            try:
                wheel = parse_wheel_name(filename)
            except PyxError:
                continue
            if wheel.version != version:
                continue
            rank = interpreter.supports(wheel.tags)
            if rank is None or (best is not None and rank >= best[0]):
                continue
            pointer = cache.read_pointer("index-" + digest(shown), spec.name, filename)
            if pointer is None or cache.archive(pointer.sha256) is None:
                continue
            if "sha256" in spec.hashes and pointer.sha256 not in spec.hashes["sha256"]:
                continue
            best = (rank, wheel, pointer)
        if best is not None:
            _, wheel, pointer = best
            file = DistFile(filename=wheel.filename, url=pointer.url, index=shown, hashes={"sha256": pointer.sha256})
            return planning.WheelSource(
                name=wheel.name,
                version=wheel.version,
                filename=wheel.filename,
                file=file,
                path=None,
                url=pointer.url,
                allowed_hashes=spec.hashes,
                sha256=pointer.sha256,
            )
    return None


def _python_label(interpreter) -> str:
    return f"Python {'.'.join(map(str, interpreter.version))} at `{interpreter.executable}`"


def _file_path(url: str) -> Path | None:
    if url.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(url).path))
    return None


# -- the cache -------------------------------------------------------------------------------


def _source_key(source: planning.WheelSource) -> str:
    """Where ``wheels-v1`` files the pointer: by index, local path, or URL of the wheel."""
    if source.file is not None:
        return "index-" + digest(source.file.index)
    if source.path is not None:
        return "path-" + digest(str(source.path))
    return "url-" + digest(redact_url(source.url.split("#")[0]))


def _remember(cache: Cache, source: planning.WheelSource, sha256: str) -> None:
    """Record which archive holds ``source`` (so pins find it without the index next time)."""
    st = source.path.stat() if source.path is not None else None
    cache.write_pointer(
        _source_key(source),
        source.name,
        WheelPointer(
            filename=source.filename,
            sha256=sha256,
            url=redact_url(source.url),
            size=st.st_size if st else None,
            mtime_ns=st.st_mtime_ns if st else None,
        ),
    )


def _cached_archive(cache: Cache, source: planning.WheelSource) -> Path | None:
    """The unpacked wheel for ``source`` if the cache has it; checks the user's hashes too."""
    if source.sha256:
        archive = cache.archive(source.sha256)
        if archive:
            return archive
    pointer = cache.read_pointer(_source_key(source), source.name, source.filename)
    if pointer is None:
        return None
    if source.sha256 and pointer.sha256 != source.sha256:
        return None
    if source.path is not None:
        try:
            st = source.path.stat()
        except OSError:
            return None
        if st.st_mtime_ns != pointer.mtime_ns or st.st_size != pointer.size:
            return None
    if source.allowed_hashes and pointer.sha256 not in source.allowed_hashes.get("sha256", ()):
        if "sha256" in source.allowed_hashes:
            return None
    return cache.archive(pointer.sha256)


class _Fetcher:
    """Brings wheels into the cache: downloaded, checked and unpacked (in ``unpackers``' forked
    workers when they run, else on threads).

    ``soon(source)`` starts a wheel as soon as it is chosen, while the other index pages are
    still being read: the first downloads then overlap the slowest pages (numpy's and scipy's
    are megabytes), and their connections are open by the time the rest come. ``fetch(items)``
    waits for those and starts the others; ``close()`` stops whatever is left (on an error,
    or for a wheel the plan turned out not to need). The environment is not touched here,
    only the cache, whose entries are whole or absent.
    """

    def __init__(self, index: IndexSettings, cache: Cache, reporter: Reporter, unpackers: _Unpackers) -> None:
        self.index = index
        self.cache = cache
        self.reporter = reporter
        self.unpackers = unpackers
        self._tasks: dict[str, Any] = {}
        self._client = None
        self._unpacking: _Unpacking | None = None
        self._budget: _ByteBudget | None = None

    def soon(self, source: planning.WheelSource) -> None:
        """Start fetching ``source`` now, unless it is cached already (call under the running loop).

        Only when worker processes fetch: on threads the downloads would take the GIL from the
        page parsing they are meant to overlap (measured: no faster)."""
        if self.unpackers.workers is None or source.file is None or _key(source) in self._tasks:
            return
        if _cached_archive(self.cache, source) is not None:
            return
        import asyncio

        self._tasks[_key(source)] = asyncio.get_running_loop().create_task(self._one(source))

    def started(self, source: planning.WheelSource) -> bool:
        """Whether ``soon`` started fetching ``source``."""
        return _key(source) in self._tasks

    async def fetch(self, items: Sequence[planning.PlannedWheel]) -> dict[NormalizedName, Path]:
        """Every wheel of ``items`` in the cache: {name: unpacked entry}."""
        import asyncio

        from pyx_server.engine.loop import running_loop

        await running_loop()
        # the largest first: their unpacking, the longest, starts while the rest still download
        for item in sorted(items, key=lambda i: -(getattr(i.source.file, "size", None) or 0)):
            if _key(item.source) not in self._tasks:
                self._tasks[_key(item.source)] = asyncio.get_running_loop().create_task(self._one(item.source))
        tasks = [self._tasks[_key(item.source)] for item in items]
        try:
            return dict(await asyncio.gather(*tasks))
        finally:
            await self._stop(tasks)

    async def close(self) -> None:
        """Stop what is still running (nothing is left half-written), close the connections."""
        try:
            await self._stop(list(self._tasks.values()))
        finally:
            if self._client is not None:
                await self._client.aclose()
            if self._unpacking is not None:
                self._unpacking.pool.shutdown(wait=True)

    @staticmethod
    async def _stop(tasks) -> None:
        if not tasks:
            return  # nothing started: maybe no loop either (a warm install)
        import asyncio

        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each cleans up after itself

    async def _one(self, source: planning.WheelSource) -> tuple[NormalizedName, Path]:
        import asyncio

        from pyx_server.engine.install.wheel import unpack_wheel

        client, unpacker, budget = self._tools()
        cache = self.cache
        processes = self.unpackers.workers
        file = source.file if source.file is not None else _direct_file(source)
        size = getattr(file, "size", None)
        if processes is not None and (source.path is None or source.file is not None):
            # a worker process downloads it, checks it and unpacks it, with a GIL of its own;
            # its events come back as they happen, to be reported from the loop's thread
            import functools

            loop = asyncio.get_running_loop()
            run = functools.partial(processes.run, on_event=lambda e: loop.call_soon_threadsafe(self.reporter.report, e))
            archive, sha256 = await unpacker.run(
                size or 0, run, "fetch", str(cache.root), self.index, source, os.getpid(), self.reporter.wants_progress
            )
            archive = Path(archive)
        elif processes is None and source.path is None and size is not None and size <= _IN_MEMORY_MAX:
            # small enough: download into memory and unpack from there (no temporary file)
            async with budget.hold(size):
                data, sha256 = await client.download_bytes(file)
                _verify_user_hashes(source, data, sha256)
                archive = await unpacker.run(
                    len(data), _store_and_scan, cache, sha256, lambda dest: unpack_wheel(data, dest, label=source.filename)
                )
        else:
            with cache.temp_dir("download-") as tmp:
                wheel_path = tmp / source.filename
                if source.path is not None and source.file is None:
                    # a local wheel: unpack straight from where it is
                    wheel_path = source.path
                    sha256 = await asyncio.to_thread(_sha256_file, wheel_path)
                else:
                    sha256 = await client.download(file, wheel_path)
                _verify_user_hashes(source, wheel_path, sha256)
                if processes is not None:
                    archive = Path(await unpacker.run(wheel_path.stat().st_size, processes.run, "unpack", str(cache.root),
                                                      sha256, str(wheel_path), source.filename, os.getpid()))
                else:
                    archive = await unpacker.run(
                        wheel_path.stat().st_size, _store_and_scan, cache, sha256, lambda dest: unpack_wheel(wheel_path, dest)
                    )
        _remember(cache, source, sha256)
        return source.name, archive

    def _tools(self):
        """The index client, the unpacking threads and the memory budget (made on first use)."""
        if self._client is None:
            from concurrent.futures import ThreadPoolExecutor

            from pyx_server.engine.index.client import IndexClient

            self._client = IndexClient(self.index, self.cache, self.reporter)
            # Unpacking is zlib + file creation, which release the GIL: one thread per core keeps
            # the cores busy without starving the event loop that is still receiving downloads.
            # With worker processes, one thread waits on each.
            processes = self.unpackers.workers
            workers = processes.count if processes is not None else max(1, os.cpu_count() or 1)
            self._unpacking = _Unpacking(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pyx-unpack"), workers)
            self._budget = _ByteBudget(_MEMORY_BUDGET)
        return self._client, self._unpacking, self._budget


def _key(source: planning.WheelSource) -> str:
    return source.url or str(source.path)


class _Unpacking:
    """Runs blocking jobs on the threads of ``pool``, ``slots`` at once, the largest waiting
    job first.

    Wheels arrive in the order their downloads end: small ones first, the big ones (scipy,
    numpy) last. First come, first served would leave the biggest unpack for the end, alone
    on one core; taking the largest waiting one whenever a thread frees up starts it as soon
    as possible.
    """

    def __init__(self, pool, slots: int) -> None:
        from pyx_server.engine.loop import Slots

        self.pool = pool
        self._slots = Slots(slots)

    async def run(self, size: int, fn, *args):
        import asyncio

        async with self._slots.hold(size):
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


class _Unpackers:
    """Forked processes that download and unpack wheels (``forked.Workers``, jobs of
    ``_worker_job``), started by ``start`` while the process is still alone (before an index is
    asked: the HTTP stack starts threads), when it is (``forked.can_fork``); else ``workers``
    stays None and threads do the work.

    On threads, unpacking shares the GIL with the event loop, the page parsing and the
    download threads: a cold install's unpacking ran two to twenty times slower than alone.
    A terminal's progress display stops its redrawing thread while the copies are forked
    (``Reporter.no_threads``).
    """

    def __init__(self, enabled: bool, index: IndexSettings | None = None, reporter: Reporter | None = None) -> None:
        self.enabled = enabled
        self.index = index
        self.reporter = reporter or Reporter()
        self.workers = None

    def start(self) -> None:
        cores = os.cpu_count() or 1
        # one more than the cores: a worker waiting for its download's first bytes leaves its core to another
        count = min(cores + 1, _MAX_WORKERS)
        if self.enabled and self.workers is None and cores > 1:
            with self.reporter.no_threads():  # a terminal's progress display stops redrawing meanwhile
                self._fork(count)
        self.enabled = False  # once: a later call finds threads running

    def _fork(self, count: int) -> None:
        from pyx_server.engine import forked

        if forked.can_fork():
            # What the workers use is imported (and the TLS trust loaded) before the fork, so
            # that each copy starts ready instead of importing it again: the parent needs all
            # of it right after anyway.
            import email.parser  # noqa: F401  (METADATA, WHEEL)
            import zipfile  # noqa: F401

            import filelock  # noqa: F401  (the cache's locks)

            from pyx_server.engine.index import client as index  # noqa: F401
            from pyx_server.engine.index import http
            from pyx_server.engine.install import contents, members, wheel  # noqa: F401

            if self.index is not None:
                http.trust(self.index.cert)
            try:
                self.workers = forked.Workers(_worker_job, count)
            except OSError:
                self.workers = None  # no process to spare: threads unpack

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None


#: worker processes at most (``_Unpackers``)
_MAX_WORKERS = 4


def _worker_job(kind: str, *args):
    """What a forked worker runs: ``"fetch"`` (``_fetch_in_worker``) or ``"unpack"`` (``_unpack_in_worker``)."""
    return _fetch_in_worker(*args) if kind == "fetch" else _unpack_in_worker(*args)


def _unpack_in_worker(root: str, sha256: str, wheel: str, label: str, parent: int) -> str:
    """``_store_and_scan`` in a forked worker: the entry is committed only while the process
    that asked is alive (a killed pyx leaves no entry behind, as an unpacking thread would)."""
    return str(_store_and_scan(Cache(root), sha256, _populate(Path(wheel), label, parent)))


def _populate(wheel, label: str, parent: int):
    """Fills a cache entry with ``wheel`` (a path or the bytes), in a worker: refused when the
    pyx that asked for it (``parent``) is gone meanwhile."""
    from pyx_server.engine.install.wheel import unpack_wheel

    def populate(dest: Path) -> None:
        unpack_wheel(wheel, dest, label=label)
        if os.getppid() != parent:
            raise InstallError(f"pyx stopped while `{label}` was being unpacked")

    return populate


#: the worker's own event loop and index client, kept from job to job (connections stay open)
_worker_client = None


class _ToParent(Reporter):
    """A worker's reporter: every event goes to the parent as it happens (``forked.send_event``)."""

    def __init__(self, wants_progress: bool) -> None:
        self.wants_progress = wants_progress

    def report(self, event) -> None:
        from pyx_server.engine import forked

        forked.send_event(event)


def _fetch_in_worker(root: str, index: IndexSettings, source: planning.WheelSource, parent: int,
                     wants_progress: bool = True) -> tuple[str, str]:
    """In a forked worker: download ``source`` from its index, check its hashes, unpack it into
    the cache. Returns (entry, sha256); its events go to the parent as they happen
    (``DownloadProgress`` only when ``wants_progress``).

    The worker downloads with a GIL of its own: in the parent, download threads and the page
    parsing took it from each other (each 16 KiB piece of a body takes it).
    """
    global _worker_client
    import asyncio

    cache = Cache(root)
    if _worker_client is None:
        from pyx_server.engine.index.client import IndexClient

        _worker_client = (asyncio.new_event_loop(), IndexClient(index, cache))
    loop, client = _worker_client
    client.reporter = client.http.reporter = _ToParent(wants_progress)
    file = source.file if source.file is not None else _direct_file(source)
    size = getattr(file, "size", None)
    if size is not None and size <= _IN_MEMORY_MAX:
        # into memory and unpacked from there: no temporary file written, read back and deleted
        data, sha256 = loop.run_until_complete(client.download_bytes(file))
        _verify_user_hashes(source, data, sha256)
        archive = _store_and_scan(cache, sha256, _populate(data, source.filename, parent))
    else:
        with cache.temp_dir("download-") as tmp:
            wheel_path = tmp / source.filename
            sha256 = loop.run_until_complete(client.download(file, wheel_path))
            _verify_user_hashes(source, wheel_path, sha256)
            archive = _store_and_scan(cache, sha256, _populate(wheel_path, source.filename, parent))
    return str(archive), sha256


def _store_and_scan(cache: Cache, sha256: str, populate) -> Path:
    """Unpack into the cache and read what the entry holds (``contents``), in the unpacking
    thread: the install that follows then finds both ready."""
    from pyx_server.engine.install.contents import cached_contents

    archive = cache.store_archive(sha256, populate)
    cached_contents(archive, cache.bucket(Bucket.CONTENTS))
    return archive


#: wheels up to this size are downloaded into memory; bigger ones (torch: gigabytes) to a file
_IN_MEMORY_MAX = 64 << 20
#: at most this many bytes of wheels held in memory at once
_MEMORY_BUDGET = 256 << 20


class _ByteBudget:
    """An async limit on bytes held at once (a semaphore counted in bytes)."""

    def __init__(self, limit: int) -> None:
        import asyncio

        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, amount: int):
        amount = min(amount, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + amount <= self.limit)
            self.used += amount
        try:
            yield
        finally:
            async with self._changed:
                self.used -= amount
                self._changed.notify_all()


def _direct_file(source: planning.WheelSource):
    from pyx_server.engine.index.simple import DistFile

    hashes = {algo: digests[0] for algo, digests in source.allowed_hashes.items() if len(digests) == 1}
    return DistFile(
        filename=source.filename,
        url=source.url.split("#", 1)[0],
        index=redact_url(source.url.split("#", 1)[0]),
        hashes=hashes,
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_user_hashes(source: planning.WheelSource, wheel: Path | bytes | bytearray, sha256: str) -> None:
    allowed = source.allowed_hashes
    if not allowed:
        return
    if "sha256" in allowed:
        if sha256 in allowed["sha256"]:
            return
        actual = f"sha256:{sha256}"
    else:
        algo = next(iter(allowed))
        h = hashlib.new(algo)
        h.update(wheel.read_bytes() if isinstance(wheel, Path) else wheel)
        if h.hexdigest() in allowed[algo]:
            return
        actual = f"{algo}:{h.hexdigest()}"
    expected = ", ".join(f"{a}:{d}" for a, ds in allowed.items() for d in ds)
    raise HashMismatch(
        f"hash mismatch for `{source.filename}`: expected `{expected}`, got `{actual}`",
        context={"expected": expected, "actual": actual},
        hints=["if the file changed on purpose, update the `--hash` in your requirements"],
    )


def _direct_url(source: planning.WheelSource, archive: Path) -> dict:
    if source.origin is not None:
        return source.origin
    url = source.path.as_uri() if source.path is not None else redact_url(source.url.split("#", 1)[0])
    sha = archive.name
    return {"url": url, "archive_info": {"hash": f"sha256={sha}", "hashes": {"sha256": sha}}}


# -- uninstall, list --------------------------------------------------------------------------


@dataclass
class UninstallResult:
    uninstalled: list[Change] = field(default_factory=list)
    #: names asked for that are not installed
    missing: list[str] = field(default_factory=list)


def uninstall(names: Sequence[str], env, *, dry_run: bool = False, reporter: Reporter | None = None,
              cache: Cache | None = None, wait: bool = True) -> UninstallResult:
    """Remove the named distributions (by their RECORD); names not installed are reported.

    Synchronous, for a caller on a thread of its own (the CLI). Under a running loop await
    ``uninstall_async``, which reports from the loop's thread (``Reporter``'s contract).
    ``cache`` holds the lock of an environment that is not a venv (the default cache if None).
    """
    from pyx_server.engine import locks
    from pyx_server.engine.install.installer import uninstall as remove

    reporter = reporter or Reporter()
    cache = cache or Cache()
    # the cache held shared too: ``clean`` would remove a lock file held in it
    with locks.hold_sync(cache.lock_file, what=f"the cache `{cache.root}`", reporter=reporter, wait=wait,
                         shared=True), \
            locks.hold_sync(environment_lock_file(env, cache), what=f"the environment `{env.root}`",
                            reporter=reporter, wait=wait):
        result = UninstallResult()
        for dist in _to_uninstall(names, env, result):
            if not dry_run:
                remove(dist.dist_info)
                reporter.report(Uninstalled(dist.name, str(dist.version)))
            result.uninstalled.append(Change(dist.name, str(dist.version)))
        return result


async def uninstall_async(names: Sequence[str], env, *, cache: Cache, dry_run: bool = False,
                          reporter: Reporter | None = None, wait: bool = True) -> UninstallResult:
    """``uninstall`` for a caller on a loop: the file removals run on a worker thread, the
    events are reported from the loop's thread, and waiting for the lock never blocks the loop."""
    from pyx_server.engine.install.installer import uninstall as remove
    from pyx_server.engine.loop import to_thread

    reporter = reporter or Reporter()
    async with cache.in_use(reporter=reporter, wait=wait), environment_lock(env, cache, reporter=reporter, wait=wait):
        result = UninstallResult()
        for dist in await to_thread(_to_uninstall, names, env, result):
            if not dry_run:
                await to_thread(remove, dist.dist_info)
                reporter.report(Uninstalled(dist.name, str(dist.version)))
            result.uninstalled.append(Change(dist.name, str(dist.version)))
        return result


def _to_uninstall(names: Sequence[str], env, result: UninstallResult) -> list:
    """The installed distributions ``names`` name; the others go to ``result.missing``."""
    installed = env.installed()
    found = []
    for raw in names:
        dist = installed.get(canonicalize_name(raw))
        if dist is None:
            result.missing.append(raw)
        else:
            found.append(dist)
    return found


def unpinned(specs: Sequence[RequirementSpec]) -> list[RequirementSpec]:
    """The specs that are not exact pins, URLs or paths (``pip sync`` wants a lock)."""
    return [s for s in specs if not s.url and s.pinned_version is None]


async def seed(
    env, *, index: IndexSettings, cache: Cache, packages: Sequence[str] = ("pip",), reporter: Reporter | None = None
) -> InstallResult:
    """Install the newest compatible ``pip`` (or other seed packages) into a fresh environment."""
    from pyx_server.engine.requirements import parse_requirement

    specs = [parse_requirement(name, source="--seed") for name in packages]
    return await install(specs, env, index=index, cache=cache, reporter=reporter)
