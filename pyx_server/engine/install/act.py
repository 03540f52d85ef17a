"""The act stage of an install: remove what is extraneous, then link the new wheels in from the
cache (on threads, or forked copies of the process), all or nothing (``install.transaction``).
Runs under the environment's lock, after every wheel is in the cache (``operations.install``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pyx_server.engine.cache import Bucket, Cache
from pyx_server.engine.config import redact_url
from pyx_server.engine.errors import PyxWarning
from pyx_server.engine.install import plan as planning
from pyx_server.engine.install.results import Change, InstallOptions, InstallResult
from pyx_server.engine.progress import Installed, Notice, PhaseFinished, PhaseStarted, Reporter, Uninstalled


async def _act(plan: planning.Plan, archives, env, interpreter, options: InstallOptions, result: InstallResult,
               reporter: Reporter, cache: Cache) -> None:
    """All or nothing: a failure puts back what was removed or replaced (``install.transaction``).

    The transaction's own notices (files shared with another distribution, overlapping
    packages) are kept while its steps run on worker threads and reported from this thread,
    as ``Reporter``'s contract asks."""
    from pyx_server.engine.install.transaction import all_or_nothing

    later = _Later()
    try:
        async with all_or_nothing(interpreter.scheme.purelib, later) as tx:
            await _act_in(tx, later, plan, archives, env, interpreter, options, result, reporter, cache)
    finally:
        later.pass_on(reporter)


class _Later(Reporter):
    """Keeps events for the operation's thread to report (``pass_on``)."""

    def __init__(self) -> None:
        self.events: list = []

    def report(self, event) -> None:
        self.events.append(event)

    def pass_on(self, reporter: Reporter) -> None:
        events, self.events = self.events, []
        for event in events:
            reporter.report(event)


async def _act_in(tx, later: _Later, plan: planning.Plan, archives, env, interpreter, options: InstallOptions,
                  result: InstallResult, reporter: Reporter, cache: Cache) -> None:
    from pyx_server.engine.install.contents import cached_contents
    from pyx_server.engine.install.linker import Linker, link_mode_from_env
    from pyx_server.engine.loop import completed, to_thread

    timings = result.timings

    if plan.extraneous:
        t = time.perf_counter()
        reporter.report(PhaseStarted("uninstall", len(plan.extraneous)))
        for dist in plan.extraneous:
            await to_thread(tx.remove, dist.dist_info)  # off a running loop: file removals block
            later.pass_on(reporter)
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

        def stage_and_claim():
            for old in plan.reinstall:  # staged first: put back if the install fails
                tx.remove(old.dist_info)
            return tx.claims({p.source.name: archives[p.source.name] for p in plan.installs}, scheme,
                             lambda a: cached_contents(a, store) if a.parent == archive_bucket else None)

        contents = await to_thread(stage_and_claim)
        later.pass_on(reporter)

        def one(p: planning.PlannedWheel):
            archive = archives[p.source.name]
            kwargs = {
                "requested": p.source.requested,
                "direct_url": _direct_url(p.source, archive) if p.source.direct else None,
                "contents": contents.get(p.source.name) or (
                    cached_contents(archive, store) if archive.parent == archive_bucket else None),
            }
            return replaced.get(p.source.name), tx.install(archive, scheme, python=python, linker=linker, **kwargs)

        def size(p: planning.PlannedWheel) -> int:
            # the stored contents grow with the file count, and a stat parses nothing here
            try:
                return os.stat(store / f"{archives[p.source.name].name}.json").st_size
            except OSError:
                return 0

        # Linking is system calls that release the GIL: one thread per core keeps both busy
        # without the lock hand-offs more threads cost. The largest wheels start first, so
        # no core is left with numpy alone at the end.
        order = sorted(plan.installs, key=size, reverse=True)
        # The jobs report nothing (replaced versions are staged above), so they may run in
        # forked processes: see ``engine.forked``.
        async for old, done in tx.collect(completed(one, order, workers=min(os.cpu_count() or 1, 4),
                                                    processes_ok=True, weight=size)):
            if old is not None:
                result.uninstalled.append(Change(old.name, str(old.version)))
            result.installed.append(Change(done.name, done.version))
            reporter.report(Installed(done.name, done.version))
        result.installed.sort(key=lambda c: c.name)
        result.link_mode = linker.effective_mode.value
        warning = getattr(linker, "warning", None)
        if warning:
            typed = PyxWarning("link-mode-fallback", warning)
            result.warnings.append(typed)
            reporter.report(Notice.warning(typed))
        timings["install"] = time.perf_counter() - t
        reporter.report(PhaseFinished("install", len(plan.installs), timings["install"]))


def _direct_url(source: planning.WheelSource, archive: Path) -> dict:
    if source.origin is not None:
        return source.origin
    url = source.path.as_uri() if source.path is not None else redact_url(source.url.split("#", 1)[0])
    sha = archive.name
    return {"url": url, "archive_info": {"hash": f"sha256={sha}", "hashes": {"sha256": sha}}}
