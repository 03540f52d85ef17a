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

One module per job: ``choose`` (step 2), ``fetch`` (step 4, with the worker processes),
``act`` (step 5), ``results`` (the option and result types, re-exported here); this module
holds the order of the steps, the environment's lock, and uninstall.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from pyx_server.engine.cache import Bucket, Cache, digest
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.errors import ExternallyManaged, HashMismatch, PyxWarning
from pyx_server.engine.install import plan as planning
from pyx_server.engine.progress import PhaseFinished, PhaseStarted, Reporter, Uninstalled
from pyx_server.engine.requirements import RequirementSpec
from pyx_server.engine.install.results import Change, InstallOptions, InstallResult, UninstallResult

__all__ = ["Change", "InstallOptions", "InstallResult", "UninstallResult", "audit", "environment_lock",
           "build_support", "environment_lock_file", "install", "seed", "uninstall", "uninstall_async", "unpinned"]


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
    # the stages, imported here: the no-op path (``audit``) needs none of them
    from pyx_server.engine.install.act import _act
    from pyx_server.engine.install.choose import _choose_wheels
    from pyx_server.engine.install.fetch import _cached_archive, _Fetcher, _remember, _source_key, _Unpackers

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

    # -- act: remove what is extraneous, then link the new wheels in, all or nothing: removed
    # and replaced versions are staged and put back if anything fails (``install.transaction``).
    await _act(plan, archives, env, interpreter, options, result, reporter, cache)
    if options.resolve:
        result.warnings += await to_thread(_broken_by, result, env)
    return result


def _broken_by(result: InstallResult, env) -> list[PyxWarning]:
    """Requirements of other installed packages that this install left unmet (pip warns too)."""
    from pyx_server.engine.install.check import check_environment

    changed = {c.name for c in result.installed} | {c.name for c in result.uninstalled}
    problems = check_environment(env.installed(), env.interpreter.markers)
    return [
        PyxWarning("broken-requirement", f"{problem}") for problem in problems
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


def _check_not_externally_managed(env) -> None:
    """PEP 668: a Python whose distributor manages its packages is not installed into directly."""
    if env.is_venv:
        return
    interpreter = env.interpreter
    marker = Path(interpreter.base_prefix) / "lib" / f"python{interpreter.version_short}" / "EXTERNALLY-MANAGED"
    if marker.is_file():
        raise ExternallyManaged(
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


# -- resolving ---------------------------------------------------------------------------------


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
    return build_support(index, cache, env.interpreter, reporter)


def build_support(index: IndexSettings, cache: Cache, interpreter, reporter: Reporter | None = None):
    """A ``builds.BuildSupport`` whose build environments are filled by ``install``: the builder
    is handed in here, so ``builds`` does not import this module (no import cycle)."""
    from pyx_server.engine.install.builds import BuildSupport

    return BuildSupport(index, cache, interpreter, reporter, installer=install)


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


# -- uninstall, list --------------------------------------------------------------------------


def uninstall(names: Sequence[str], env, *, dry_run: bool = False, reporter: Reporter | None = None,
              cache: Cache | None = None, wait: bool = True) -> UninstallResult:
    """Remove the named distributions (by their RECORD); names not installed are reported.

    Synchronous, for a caller on a thread of its own (the CLI). Under a running loop await
    ``uninstall_async``, which reports from the loop's thread (``Reporter``'s contract).
    ``cache`` holds the lock of an environment that is not a venv (the default cache if None).
    """
    from pyx_server.engine import locks
    from pyx_server.engine.install.transaction import all_or_nothing

    reporter = reporter or Reporter()
    cache = cache or Cache()
    # the cache held shared too: ``clean`` would remove a lock file held in it
    with locks.hold_sync(cache.lock_file, what=f"the cache `{cache.root}`", reporter=reporter, wait=wait,
                         shared=True), \
            locks.hold_sync(environment_lock_file(env, cache), what=f"the environment `{env.root}`",
                            reporter=reporter, wait=wait), \
            all_or_nothing(_site(env), reporter) as tx:  # all the names, or none of them
        result = UninstallResult()
        for dist in _to_uninstall(names, env, result):
            if not dry_run:
                tx.remove(dist.dist_info)
                reporter.report(Uninstalled(dist.name, str(dist.version)))
            result.uninstalled.append(Change(dist.name, str(dist.version)))
        return result


async def uninstall_async(names: Sequence[str], env, *, cache: Cache, dry_run: bool = False,
                          reporter: Reporter | None = None, wait: bool = True) -> UninstallResult:
    """``uninstall`` for a caller on a loop: the file removals run on a worker thread, the
    events are reported from the loop's thread, and waiting for the lock never blocks the loop."""
    from pyx_server.engine.install.act import _Later
    from pyx_server.engine.install.transaction import all_or_nothing
    from pyx_server.engine.loop import to_thread

    reporter = reporter or Reporter()
    later = _Later()  # the removals' notices, reported from this thread
    async with cache.in_use(reporter=reporter, wait=wait), environment_lock(env, cache, reporter=reporter, wait=wait):
        result = UninstallResult()
        try:
            async with all_or_nothing(_site(env), later) as tx:  # all the names, or none of them
                for dist in await to_thread(_to_uninstall, names, env, result):
                    if not dry_run:
                        await to_thread(tx.remove, dist.dist_info)
                        later.pass_on(reporter)
                        reporter.report(Uninstalled(dist.name, str(dist.version)))
                    result.uninstalled.append(Change(dist.name, str(dist.version)))
        finally:
            later.pass_on(reporter)
        return result


def _site(env) -> Path:
    """The site-packages an uninstall stages its removals in (the environment's root without one)."""
    return env.site_packages[0] if env.site_packages else env.root


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
