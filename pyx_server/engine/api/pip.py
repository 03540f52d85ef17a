"""pip-style changes to an environment: ``pip_install`` (and, exact, ``pip sync``) and ``pip_uninstall``.

What ``pyx pip install|sync|uninstall`` does, for every front: the requirements named and
read from files are merged with their constraints and index options (``api.inputs``), the
environment is found from the context, and the install runs under the context's reporter.
A warm ``pip sync`` stays cheap: the offline no-op check (``audit``) runs first and, when
nothing needs doing, no event loop, HTTP client or resolver is ever loaded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyx_server.engine.api.inputs import (
    PathLike,
    find_environment,
    index_request,
    read_requirements,
    resolve_options,
)
from pyx_server.engine.errors import Hint, PyxWarning, UsageError
from pyx_server.engine.install.plan import Plan, PlannedWheel

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context

#: ``Plan`` and ``PlannedWheel`` are re-exported: the data a front renders for a dry run
__all__ = ["PackageChange", "PipInstallResult", "PipUninstallResult", "Plan", "PlannedWheel", "pip_install",
           "pip_uninstall"]


@dataclass(frozen=True)
class PackageChange:
    """One distribution installed or removed, at the version it had."""

    name: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class PipInstallResult:
    """What an install did (or, ``dry_run``, would do) to one environment."""

    #: the environment's root directory
    environment: str
    #: everything planned before anything was touched: cached and remote wheels, reinstalls,
    #: extraneous and unchanged distributions
    plan: Plan
    dry_run: bool = False
    installed: tuple[PackageChange, ...] = ()
    uninstalled: tuple[PackageChange, ...] = ()
    #: requirements skipped because their marker excludes this interpreter
    skipped: tuple[str, ...] = ()
    link_mode: str | None = None
    warnings: tuple[PyxWarning, ...] = ()
    #: seconds per phase (resolve, prepare, uninstall, install)
    timings: Mapping[str, float] = field(default_factory=dict)
    #: requirements already satisfied
    audited: int = 0
    #: seconds the whole call took
    seconds: float = 0.0

    @property
    def is_noop(self) -> bool:
        return self.plan.is_noop

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "dry_run": self.dry_run,
            "plan": self.plan.to_dict(),
            "installed": [c.to_dict() for c in self.installed],
            "uninstalled": [c.to_dict() for c in self.uninstalled],
            "skipped": list(self.skipped),
            "link_mode": self.link_mode,
            "warnings": [w.to_dict() for w in self.warnings],
            "timings": dict(self.timings),
            "audited": self.audited,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class PipUninstallResult:
    environment: str
    dry_run: bool = False
    uninstalled: tuple[PackageChange, ...] = ()
    #: names asked for that are not installed (each also in ``warnings``)
    missing: tuple[str, ...] = ()
    warnings: tuple[PyxWarning, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "dry_run": self.dry_run,
                "uninstalled": [c.to_dict() for c in self.uninstalled], "missing": list(self.missing),
                "warnings": [w.to_dict() for w in self.warnings], "seconds": self.seconds}


async def pip_install(
    ctx: Context,
    requirements: Sequence[str] = (),
    *,
    requirement_files: Sequence[PathLike] = (),
    constraints: Sequence[PathLike] = (),
    overrides: Sequence[PathLike] = (),
    editables: Sequence[PathLike] = (),
    exact: bool = False,
    no_deps: bool = False,
    dry_run: bool = False,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    reinstall: bool = False,
    reinstall_packages: Sequence[str] = (),
    pre: bool = False,
    prerelease: str | None = None,
    resolution: str | None = None,
    exclude_newer: str | None = None,
    no_build: bool = False,
    no_build_packages: Sequence[str] = (),
    no_binary: Sequence[str] = (),
    require_hashes: bool = False,
    link_mode: str | None = None,
    refresh: bool = False,
    break_system_packages: bool = False,
) -> PipInstallResult:
    """Install requirements into the context's environment, with their dependencies (pip
    install), exactly as named (``no_deps``), or as an exact copy of pinned requirement files
    with everything else removed (``exact``: pip sync; ``requirement_files`` are the lock).

    Requirement files may carry ``-c`` files, index options and ``--pre`` (merged as pip
    does); ``dry_run`` returns the plan and changes nothing.
    """
    from pyx_server.engine import progress
    from pyx_server.engine.loop import to_thread

    started = time.perf_counter()
    ctx = ctx.new_operation("pip-sync" if exact else "pip-install")
    reporter = progress.for_operation(ctx.reporter, ctx.operation)
    if exact and not requirement_files:
        raise UsageError("`pyx pip sync` needs a requirements file", hints=[Hint("pyx pip sync requirements.txt")])
    reqs = read_requirements(ctx, () if exact else requirements, requirement_files, constraints,
                             () if exact else editables)
    if not reqs.requirements and not exact:
        raise UsageError("nothing to install: name packages or pass `-r FILE`")
    resolving = not exact and not no_deps
    warnings: list[PyxWarning] = []
    if exact or no_deps:
        from pyx_server.engine.requirements import apply_constraints

        reqs.requirements = apply_constraints(reqs.requirements, reqs.constraints)
    from pyx_server.engine.install.operations import InstallOptions, audit, install, unpinned

    if exact and unpinned(reqs.requirements):
        loose = ", ".join(f"`{s}`" for s in unpinned(reqs.requirements)[:5])
        warnings.append(PyxWarning(
            "unpinned-requirement",
            f"not pinned with `==`: {loose}; `pyx pip sync` installs the best match of each without its dependencies",
            hints=(Hint("pin them with `pyx pip compile`"),),
        ))
    options = InstallOptions(
        exact=exact,
        reinstall=True if reinstall else frozenset(_canonical(reinstall_packages)),
        dry_run=dry_run,
        require_hashes=require_hashes or any(spec.hashes for spec in reqs.requirements),
        prereleases=pre or reqs.prerelease,
        refresh=refresh,
        break_system_packages=break_system_packages,
        resolve=resolving,
        resolve_options=resolve_options(
            ctx, reqs, pre=pre, prerelease=prerelease, resolution=resolution, exclude_newer=exclude_newer,
            upgrade=upgrade, upgrade_packages=upgrade_packages, overrides=overrides, no_build=no_build,
            no_build_packages=no_build_packages, no_binary=no_binary,
        ) if resolving else None,
    )
    env = await to_thread(find_environment, ctx)
    result = None if resolving else await to_thread(audit, reqs.requirements, env, options)
    if result is None:
        options = dataclasses.replace(options, link_mode=_link_mode(link_mode, ctx.env))
        settings = ctx.index_settings(extra=index_request(reqs))
        result = await install(reqs.requirements, env, index=settings, cache=ctx.cache, options=options,
                               reporter=reporter, wait=ctx.wait)
    return _install_result(result, env, warnings, time.perf_counter() - started)


def _install_result(result, env, warnings: list[PyxWarning], seconds: float) -> PipInstallResult:
    """The engine's ``InstallResult`` as this use case's frozen, JSON-ready result."""
    return PipInstallResult(
        environment=str(env.root),
        plan=result.plan,
        dry_run=result.dry_run,
        installed=tuple(PackageChange(c.name, str(c.version)) for c in result.installed),
        uninstalled=tuple(PackageChange(c.name, str(c.version)) for c in result.uninstalled),
        skipped=tuple(result.skipped),
        link_mode=result.link_mode,
        warnings=(*warnings, *(as_warning(w, "install-warning") for w in result.warnings)),
        timings=dict(result.timings),
        audited=result.audited,
        seconds=seconds,
    )


def as_warning(value, code: str) -> PyxWarning:
    """A warning from an engine stage, which may still give plain text, as a ``PyxWarning``."""
    if isinstance(value, PyxWarning):
        return value
    return PyxWarning(code, str(value))


async def pip_uninstall(
    ctx: Context,
    packages: Sequence[str] = (),
    *,
    requirement_files: Sequence[PathLike] = (),
    dry_run: bool = False,
) -> PipUninstallResult:
    """Remove the named distributions (and those ``requirement_files`` name) by their RECORD;
    a name that is not installed is a warning, not an error (as pip's ``-y``)."""
    from pyx_server.engine import progress
    from pyx_server.engine.install.operations import uninstall_async
    from pyx_server.engine.loop import to_thread

    started = time.perf_counter()
    ctx = ctx.new_operation("pip-uninstall")
    reporter = progress.for_operation(ctx.reporter, ctx.operation)
    reqs = read_requirements(ctx, packages, requirement_files)
    names = [spec.name for spec in reqs.requirements]
    if not names:
        raise UsageError("name the packages to uninstall, or pass `-r FILE`")
    env = await to_thread(find_environment, ctx)
    result = await uninstall_async(names, env, cache=ctx.cache, dry_run=dry_run, reporter=reporter, wait=ctx.wait)
    return PipUninstallResult(
        environment=str(env.root),
        dry_run=dry_run,
        uninstalled=tuple(PackageChange(c.name, str(c.version)) for c in result.uninstalled),
        missing=tuple(result.missing),
        warnings=tuple(PyxWarning("not-installed", f"skipping `{name}`: it is not installed") for name in result.missing),
        seconds=time.perf_counter() - started,
    )


def _link_mode(value: str | None, env: Mapping[str, str]) -> str | None:
    """``--link-mode``, else the context's ``PYX_LINK_MODE``; checked only once something is to
    be linked, so a warm no-op never loads the linker."""
    from pyx_server.engine.install.linker import link_mode_from_env

    mode = link_mode_from_env(value, env)
    return mode.value if mode is not None else None


def _canonical(names: Sequence[str]) -> list[str]:
    from packaging.utils import canonicalize_name

    return [canonicalize_name(n) for n in names]
