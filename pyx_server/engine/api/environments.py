"""``environment_for``: the environment a script, a notebook, a project or a ``--with`` list
runs in — what ``pyx run`` and a kernel need (interpreter, prefix, variables), created or
reused — and the run stamp that lets the next identical ``pyx run`` skip pyx entirely."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyx_server.engine.api import targets
from pyx_server.engine.api.context import Context
from pyx_server.engine.errors import UsageError
from pyx_server.engine.progress import EnvironmentReady, for_operation

__all__ = ["EnvironmentInfo", "environment_for", "stamp_run"]


@dataclass(frozen=True)
class EnvironmentInfo:
    """Where to run: the interpreter, the environment's prefix, the variables to set."""

    operation: str
    #: "script", "notebook", "project" or "ephemeral" (only ``--with`` requirements)
    kind: str
    #: the declaration (script, notebook or pyproject.toml); None for an ephemeral environment
    declaration: Path | None
    prefix: Path
    python: Path
    #: what to set in the environment of the program run there (``VIRTUAL_ENV``, ``PATH``)
    variables: Mapping[str, str]
    created: bool
    #: files whose change can change which environment this is (for the run stamp)
    inputs: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def bin_dir(self) -> Path:
        return self.prefix / "bin"

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind,
                "declaration": str(self.declaration) if self.declaration else None, "prefix": str(self.prefix),
                "python": str(self.python), "variables": dict(self.variables), "created": self.created}


def _info(ctx: Context, kind: str, declaration: Path | None, prefix: Path, created: bool,
          inputs: Sequence[Path] = ()) -> EnvironmentInfo:
    bindir = prefix / "bin"
    path = ctx.env.get("PATH", "")
    variables = {"VIRTUAL_ENV": str(prefix), "PATH": f"{bindir}{os.pathsep}{path}" if path else str(bindir)}
    return EnvironmentInfo(ctx.operation, kind, declaration, prefix, bindir / "python", variables, created,
                           tuple(str(p) for p in inputs))


async def environment_for(ctx: Context, target: str | os.PathLike[str] | None = None, *,
                          with_requirements: Sequence[str] = (), locked: bool = False,
                          frozen: bool = False) -> EnvironmentInfo:
    """The environment of a script or notebook (``target``; what a kernel for the notebook
    runs in), of the project around ``ctx.cwd`` (``target`` None; its ``.venv``, synced first),
    or — outside any project — an ephemeral one holding only ``with_requirements``.

    A script whose complete environment exists (and no ``--with``, ``--locked`` or ``--frozen``)
    is answered without resolving, without an event loop and without the network.
    """
    from pyx_server.engine.loop import to_thread
    from pyx_server.engine.requirements import parse_requirement

    ctx = ctx.new_operation("environment")
    reporter = for_operation(ctx.reporter, ctx.operation)
    extra = [parse_requirement(r, source="--with") for r in with_requirements]
    settings = ctx.index_settings()
    store = ctx.data_dir()
    if target is not None:
        path = ctx.path(target)
        if not path.is_file():
            raise UsageError(f"`{target}` does not exist", context={"path": path})
        from pyx_server.engine.declared import (
            check_python, existing_script_environment, read_declaration, run_inputs,
        )

        declaration = read_declaration(path, ctx.cache)
        interpreter = targets.interpreter(ctx)
        inputs = run_inputs(declaration, interpreter, ctx.cwd)
        if not extra and not locked and not frozen:
            check_python(declaration, interpreter)
            ready = existing_script_environment(declaration, interpreter, index=settings, store=store)
            if ready is not None:
                reporter.report(EnvironmentReady(str(ready), False))
                return _info(ctx, declaration.kind, path, ready, False, inputs)
        stored = await targets.stored_environment(ctx, declaration, interpreter, reporter,
                                                  with_requirements=extra, locked=locked, frozen=frozen)
        reporter.report(EnvironmentReady(str(stored.path), stored.created))
        return _info(ctx, declaration.kind, path, stored.path, stored.created, inputs)
    from pyx_server.engine.declared import read_declaration
    from pyx_server.engine.errors import ProjectError

    try:
        declaration = read_declaration(ctx.cwd)
    except ProjectError:
        declaration = None
    if declaration is not None and declaration.kind == "project":
        if extra:
            raise UsageError("`--with` inside a project is not supported yet",
                             hints=["add the requirement with `pyx add`"])
        from pyx_server.engine.declared import project_sync

        async with targets.hold_declaration(ctx, declaration.path, reporter):
            env, created = await to_thread(lambda: targets.project_venv(ctx, declaration))
            await project_sync(declaration, env, index=settings, cache=ctx.cache, locked=locked, frozen=frozen,
                               reporter=reporter, wait=ctx.wait)
        reporter.report(EnvironmentReady(str(env.root), created))
        return _info(ctx, "project", declaration.path, env.root, created)
    from pyx_server.engine.envs.store import ensure_environment

    interpreter = await to_thread(targets.interpreter, ctx)
    stored = await ensure_environment(extra, interpreter, index=settings, cache=ctx.cache, store=store,
                                      extra_key={"indexes": list(settings.indexes),
                                                 "pinned": [[n, list(u)] for n, u in settings.pinned]},
                                      reporter=reporter, wait=ctx.wait)
    reporter.report(EnvironmentReady(str(stored.path), stored.created))
    return _info(ctx, "ephemeral", None, stored.path, stored.created)


def stamp_run(ctx: Context, argv: Sequence[str], environment: EnvironmentInfo) -> None:
    """Remember that this ``pyx run`` (its arguments after ``run``) found its environment ready,
    so the next identical run starts the script without loading pyx (``envs.runstamp``; a
    stamp is only a shortcut, and only scripts get one)."""
    if environment.kind != "script":
        return
    from pyx_server import __version__
    from pyx_server.engine.envs import runstamp
    from pyx_server.engine.envs.store import MARKER

    runstamp.record(list(argv), env=ctx.env, cwd=str(ctx.cwd), version=__version__, data_dir=str(ctx.data_dir()),
                    python=str(environment.python), marker=str(environment.prefix / MARKER),
                    files=list(environment.inputs))
