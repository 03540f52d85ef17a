"""What an install or an uninstall is asked to do, and what it did: the operations' option and
result types (``operations`` re-exports them; the stages below it import them from here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyx_server.engine.errors import PyxWarning
from pyx_server.engine.install import plan as planning


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
    warnings: list[PyxWarning] = field(default_factory=list)
    #: seconds spent per phase: resolve, prepare, uninstall, install
    timings: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False
    #: requirements already satisfied (audited without change)
    audited: int = 0
    #: the resolution behind the install (``pip install`` with dependencies)
    resolution: object | None = None


@dataclass
class UninstallResult:
    uninstalled: list[Change] = field(default_factory=list)
    #: names asked for that are not installed
    missing: list[str] = field(default_factory=list)
