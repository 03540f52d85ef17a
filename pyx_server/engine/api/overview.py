"""``status``: a declaration's environment at a glance — what the Jupyter panel and an editor show.

Cheap by design: it reads the declaration (or an editor's unsaved text), the lock and the
environment's installed distributions, and compares them. It never resolves and never
touches the network; an environment that does not exist yet is reported, not built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyx_server.engine.api import targets
from pyx_server.engine.api.context import Context

__all__ = ["PackageStatus", "Status", "StatusProblem", "status"]


@dataclass(frozen=True)
class PackageStatus:
    """One package: what the declaration asks, the lock pins and the environment has."""

    name: str
    #: the declared requirement (None: a dependency of one)
    declared: str | None
    locked: str | None
    installed: str | None
    #: "ok", "missing", "extraneous", "wrong-version", "unlocked" (in no lock, environment absent)
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "declared": self.declared, "locked": self.locked, "installed": self.installed,
                "state": self.state}


@dataclass(frozen=True)
class StatusProblem:
    """Why the environment is out of sync: ``code`` is missing, extraneous, wrong-version,
    lock-stale, no-lock or no-environment; ``package`` names the package when it is about one."""

    code: str
    message: str
    package: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "package": self.package}


@dataclass(frozen=True)
class Status:
    kind: str
    path: Path
    #: the interpreter's version and path (the environment's when it exists)
    python_version: str
    python: str
    requires_python: str | None
    declared: tuple[str, ...]
    #: where the lock is (None: no lock)
    lock: str | None
    lock_stale: str | None
    environment: str | None
    environment_exists: bool
    packages: tuple[PackageStatus, ...]
    problems: tuple[StatusProblem, ...]
    #: the PyTorch build the file records (variant), and for which packages
    gpu_variant: str | None = None
    gpu_packages: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path),
                "python": {"version": self.python_version, "path": self.python},
                "requires_python": self.requires_python, "declared": list(self.declared), "lock": self.lock,
                "lock_stale": self.lock_stale, "environment": self.environment,
                "environment_exists": self.environment_exists, "packages": [p.to_dict() for p in self.packages],
                "problems": [p.to_dict() for p in self.problems], "in_sync": self.in_sync,
                "gpu": {"variant": self.gpu_variant, "packages": list(self.gpu_packages)} if self.gpu_variant else None}


async def status(ctx: Context, target: str | os.PathLike[str] | None = None, *, text: str | None = None) -> Status:
    """The status of a script, a notebook or a project (``target`` None: the project around
    ``ctx.cwd``), read from ``text`` when an editor passes its unsaved buffer."""
    from pyx_server.engine.loop import to_thread

    return await to_thread(_status, ctx, target, text)


def _status(ctx: Context, target, text: str | None) -> Status:
    from packaging.utils import canonicalize_name

    from pyx_server.engine.declared.locking import pins_from_lock, read_current_lock, stale_reason
    from pyx_server.engine.declared.model import index_for
    from pyx_server.engine.envs.environment import open_venv

    path = targets.target_path(ctx, target, text=text)
    declaration = targets.read_current(path, text).declaration
    problems: list[StatusProblem] = []
    current = read_current_lock(declaration)
    where = None
    if current is not None:
        where = (f"{declaration.path.name} (metadata.pyx.pylock)" if declaration.kind == "notebook"
                 and not declaration.lock_path.is_file() else str(declaration.lock_path))
    elif declaration.kind == "project":
        problems.append(StatusProblem("no-lock", f"`{declaration.path.name}` has no lock yet"))

    # the environment, without building it
    root: Path | None
    interpreter = None
    if declaration.kind == "project":
        root = declaration.path.parent / ".venv"
        exists = (root / "pyvenv.cfg").is_file()
        if exists:
            interpreter = open_venv(root, cache=ctx.cache).interpreter
    else:
        from pyx_server.engine.envs.store import MARKER, environment_root

        interpreter = targets.interpreter(ctx)
        settings = index_for(declaration, ctx.index_settings())
        extra = {"indexes": list(settings.indexes), "pinned": [[n, list(u)] for n, u in settings.pinned]}
        if current is not None:
            specs = pins_from_lock(declaration, current, interpreter)[0]
            root = environment_root(specs, interpreter, requires_python=declaration.requires_python,
                                    extra_key=extra, locked=True, store=ctx.data_dir())
        else:
            root = environment_root(list(declaration.requirements), interpreter,
                                    requires_python=declaration.requires_python, extra_key=extra, locked=False,
                                    store=ctx.data_dir())
        exists = (root / MARKER).is_file()
    if interpreter is None:
        interpreter = targets.interpreter(ctx)
    stale = stale_reason(declaration, current, interpreter) if current is not None else None
    if stale is not None:
        problems.append(StatusProblem("lock-stale", f"the lock is out of date: {stale}"))
    if not exists:
        problems.append(StatusProblem("no-environment", "the environment does not exist yet"))

    installed = {}
    if exists:
        env = open_venv(root, cache=ctx.cache)
        installed = {name: str(dist.version) for name, dist in env.installed().items()}
    declared = {canonicalize_name(r.name): str(r.requirement) for r in declaration.requirements}
    locked: dict[str, str] = {}
    if current is not None:
        specs = pins_from_lock(declaration, current, interpreter)[0]
        locked = {canonicalize_name(s.name): str(next(iter(s.requirement.specifier)).version) for s in specs}
    rows = []
    own = _own_name(declaration)
    for name in sorted(set(declared) | set(locked) | set(installed)):
        if name in ("pip", "setuptools", "wheel") and name not in declared and name not in locked:
            continue
        have = installed.get(name)
        want = locked.get(name)
        state = "ok"
        if name == own:
            pass
        elif want is not None:
            state = "missing" if have is None else ("wrong-version" if have != want else "ok")
        elif name in declared:
            if have is None:
                state = "missing"
            else:
                from packaging.requirements import Requirement

                spec = Requirement(declared[name]).specifier
                state = "ok" if spec.contains(have, prereleases=True) else "wrong-version"
        elif have is not None and current is not None:
            state = "extraneous"
        if not exists and state == "missing":
            state = "unlocked" if want is None else "missing"
        rows.append(_row(name, declared, locked, installed, state))
        if exists and state in ("missing", "wrong-version", "extraneous"):
            problems.append(StatusProblem(state, _message(state, name, want or declared.get(name), have), name))
    gpu_variant, gpu_packages = None, ()
    if declaration.pinned:
        from pyx_server.engine.gpu.variants import recorded_variant

        recorded = recorded_variant(declaration.pinned)
        if recorded is not None:
            gpu_variant, gpu_packages = recorded
    return Status(declaration.kind, declaration.path, str(interpreter.python_version), str(interpreter.sys_executable),
                  declaration.requires_python, tuple(declared.values()), where, stale, str(root) if root else None,
                  exists, tuple(rows), tuple(problems), gpu_variant, tuple(gpu_packages))


def _own_name(declaration) -> str | None:
    project = declaration.project
    return str(project.name) if project is not None and getattr(project, "name", None) else None


def _row(name, declared, locked, installed, state) -> PackageStatus:
    return PackageStatus(name, declared.get(name), locked.get(name), installed.get(name), state)


def _message(state: str, name: str, want: str | None, have: str | None) -> str:
    if state == "missing":
        return f"`{name}` is not installed" + (f" (the lock has {want})" if want and "=" not in want else "")
    if state == "extraneous":
        return f"`{name}` {have} is installed but neither declared nor locked"
    return f"`{name}` {have} is installed, but {want} is wanted"
