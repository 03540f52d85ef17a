"""The use cases on what a script, a notebook or a project declares: add, remove, lock, sync,
init, tree.

Plan, then act: ``add`` and ``remove`` compute the new declaration text in memory, resolve and
lock against that text, and only then write the declaration and its lock together (one
``edits.apply_edits``), all under the declaration's lock. A failed resolution therefore
leaves every file as it was, and two concurrent edits of one declaration take turns instead
of losing one. With ``apply=False`` nothing is written: the edits come back as data for the
front that owns the document (``text=`` is that document's unsaved content).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from pyx_server.engine.api import targets
from pyx_server.engine.api.context import Context
from pyx_server.engine.api.results import (
    EditResult,
    InitResult,
    InstallSummary,
    LockResult,
    SyncResult,
    TorchBuild,
    TreeNode,
    TreeResult,
)
from pyx_server.engine.edits import FileEdit
from pyx_server.engine.errors import PyxWarning, UsageError
from pyx_server.engine.progress import DeclarationEdited, EnvironmentReady, LockWritten, Notice, Reporter, for_operation

__all__ = [
    "EditResult", "InitResult", "InstallSummary", "LockResult", "SyncResult", "TorchBuild", "TreeNode", "TreeResult",
    "add", "init", "lock", "remove", "sync", "tree",
]


# -- helpers ------------------------------------------------------------------------------------


class _Warnings(Reporter):
    """Passes events on, keeping the warning notices as ``PyxWarning`` values for the result."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.wants_progress = inner.wants_progress
        self.warnings: list[PyxWarning] = []

    def no_threads(self):
        return self.inner.no_threads()

    def report(self, event) -> None:
        if isinstance(event, Notice) and event.level == "warning":
            self.warnings.append(PyxWarning(event.code or "warning", event.message, tuple(event.hints)))
        self.inner.report(event)


def _begin(ctx: Context, kind: str) -> tuple[Context, _Warnings]:
    ctx = ctx.new_operation(kind)
    return ctx, _Warnings(for_operation(ctx.reporter, ctx.operation))


def _requirement_name(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text).name
    except InvalidRequirement:
        return ""


async def _route_torch(ctx: Context, declaration, text: str, requirements: Sequence[str], torch_backend,
                       interpreter, reporter: _Warnings) -> tuple[str, TorchBuild | None]:
    """Record the variant index this machine needs for the PyTorch family in ``text``; a
    missing variant index becomes a warning (the family then comes from the default index)."""
    from pyx_server.engine.errors import TorchIndexNotConfigured
    from pyx_server.engine.gpu import is_torch_family

    if not any(is_torch_family(_requirement_name(r)) for r in requirements):
        return text, None
    from pyx_server.engine.declared import route_gpu_packages

    try:
        choice, text = await route_gpu_packages(declaration, list(requirements), cache=ctx.cache,
                                                torch_backend=torch_backend, readers=ctx.gpu, env=ctx.env,
                                                tags=interpreter.tags, reporter=reporter, text=text)
    except TorchIndexNotConfigured as err:
        warning = PyxWarning(err.code, "the PyTorch family is installed from the default index, not the build "
                                       f"for this machine's GPU: {err.message}", tuple(err.hints))
        reporter.warnings.append(warning)
        return text, None
    if choice is None:
        return text, None
    for message in choice.warnings:
        reporter.warnings.append(PyxWarning("torch-build", message))
    return text, TorchBuild(choice.variant, choice.reason)


async def _with_lower_bounds(ctx: Context, declaration, requirements: Sequence[str], interpreter,
                             reporter: Reporter) -> list[str]:
    """``add`` of a bare name writes ``name>=<resolved version>``, as uv does."""
    from pyx_server.engine.declared import index_for
    from pyx_server.engine.index.resolve import resolve_requirements
    from pyx_server.engine.requirements import parse_requirement

    specs = [parse_requirement(r) for r in requirements]
    bare = [s for s in specs if not s.url and not s.requirement.specifier]
    if not bare:
        return [str(s.requirement) for s in specs]
    result = await resolve_requirements(list(declaration.requirements) + specs, interpreter,
                                        index=index_for(declaration, ctx.index_settings()), cache=ctx.cache,
                                        reporter=reporter)
    written = []
    for spec in specs:
        if spec in bare and spec.name in result.resolution:
            req = spec.requirement
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            marker = f" ; {req.marker}" if req.marker else ""
            written.append(f"{req.name}{extras}>={result.resolution[spec.name].version.public}{marker}")
        else:
            written.append(str(spec.requirement))
    return written


def _added_text(declaration, text: str, requirements: Sequence[str], group, optional) -> str:
    if declaration.kind == "project":
        from pyx_server.engine.project import add_dependencies_to_text

        return add_dependencies_to_text(text, requirements, group=group, optional=optional, path=declaration.path)
    _inline_only(group, optional)
    from pyx_server.engine.inline import AddDependencies, apply_edit

    return apply_edit(text, declaration.path, AddDependencies(tuple(requirements)))[0]


def _removed_text(declaration, text: str, names: Sequence[str], group, optional) -> str:
    if declaration.kind == "project":
        from pyx_server.engine.project import remove_dependencies_from_text

        return remove_dependencies_from_text(text, names, group=group, optional=optional, path=declaration.path)
    _inline_only(group, optional)
    from pyx_server.engine.inline import RemoveDependencies, apply_edit

    return apply_edit(text, declaration.path, RemoveDependencies(tuple(names)))[0]


def _inline_only(group, optional) -> None:
    if group is not None or optional is not None:
        raise UsageError("`--group` and `--optional` apply to projects; a script or notebook has one list "
                         "of dependencies")


async def _apply(ctx: Context, current: targets.Current, edits: list[FileEdit], planned, reporter: Reporter,
                 locked) -> None:
    """Write the planned edits in one step (all or none), and say what was written."""
    from pyx_server.engine.declared.locking import forget_sidecar
    from pyx_server.engine.edits import apply_edits
    from pyx_server.engine.loop import to_thread

    await to_thread(apply_edits, edits)
    forget_sidecar(planned, edits)
    for edit in edits:
        if edit.role == "declaration":
            reporter.report(DeclarationEdited(str(edit.path)))
    if locked is not None:
        where = next((e.path for e in edits if e.role == "lock"), planned.path)
        reporter.report(LockWritten(str(where), len(locked.packages)))


async def _edit(ctx: Context, kind: str, target, items: Sequence[str], *, group, optional, sync: bool,
                torch_backend, text: str | None, apply: bool) -> EditResult:
    from pyx_server.engine.declared import declaration_from_text, has_lock, lock_edits, resolve_lock
    from pyx_server.engine.loop import to_thread

    ctx, reporter = _begin(ctx, kind)
    if not items:
        raise UsageError(f"nothing to {kind}: name at least one package")
    path = targets.target_path(ctx, target, text=text)
    async with targets.hold_declaration(ctx, path, reporter):
        current = targets.read_current(path, text)
        declaration = current.declaration
        interpreter = await to_thread(targets.interpreter, ctx)
        new_text, torch = current.text, None
        if kind == "add":
            new_text, torch = await _route_torch(ctx, declaration, new_text, items, torch_backend, interpreter,
                                                 reporter)
            routed = declaration_from_text(path, new_text) if new_text != current.text else declaration
            written = tuple(await _with_lower_bounds(ctx, routed, items, interpreter, reporter))
            new_text = _added_text(declaration, new_text, written, group, optional)
        else:
            written = tuple(items)
            new_text = _removed_text(declaration, new_text, written, group, optional)
        planned = declaration_from_text(path, new_text)
        edits = [FileEdit.of_text(path, new_text, current.text)]
        locked = where = None
        if declaration.kind == "project" or has_lock(declaration):
            locked = await resolve_lock(planned, interpreter, index=ctx.index_settings(), cache=ctx.cache,
                                        reporter=reporter)
            lock_file_edits, where = lock_edits(planned, locked)
            edits += lock_file_edits
        edits = targets.combine(current, edits)
        if apply:
            await _apply(ctx, current, edits, planned, reporter, locked)
        environment = summary = install = None
        if apply and sync and declaration.kind == "project":
            environment, summary, install = await _sync_project(ctx, planned, locked, reporter)
    return EditResult(ctx.operation, declaration.kind, path, written, tuple(edits), apply, where,
                      len(locked.packages) if locked is not None else None, torch, tuple(reporter.warnings),
                      environment, summary, install)


async def _sync_project(ctx: Context, declaration, locked, reporter: Reporter, *, locked_flag: bool = False,
                        frozen: bool = False):
    """Sync the project's ``.venv`` to ``locked`` (or to its lock on disk when None)."""
    from pyx_server.engine.declared import pins_from_lock, project_sync
    from pyx_server.engine.loop import to_thread

    env, created = await to_thread(lambda: targets.project_venv(ctx, declaration))
    started = time.perf_counter()
    found = pins_from_lock(declaration, locked, env.interpreter) if locked is not None else None
    result = await project_sync(declaration, env, index=ctx.index_settings(), cache=ctx.cache, locked=locked_flag,
                                frozen=frozen, reporter=reporter, found_pins=found, wait=ctx.wait)
    reporter.report(EnvironmentReady(str(env.root), created))
    return str(env.root), InstallSummary.of(result, time.perf_counter() - started), result


# -- the use cases ------------------------------------------------------------------------------


async def add(ctx: Context, target: str | os.PathLike[str] | None, requirements: Sequence[str], *,
              group: str | None = None, optional: str | None = None, sync: bool = True,
              torch_backend: str | None = None, text: str | None = None, apply: bool = True) -> EditResult:
    """Add ``requirements`` to a script, notebook or project (``target``; None: the project
    around ``ctx.cwd``), lock when it is locked (a project always is), and sync a project.

    A bare name is written ``name>=<resolved version>``; members of the PyTorch family get the
    variant index this machine needs (``torch_backend`` chooses one). Nothing is written unless
    everything resolves.
    """
    return await _edit(ctx, "add", target, list(requirements), group=group, optional=optional, sync=sync,
                       torch_backend=torch_backend, text=text, apply=apply)


async def remove(ctx: Context, target: str | os.PathLike[str] | None, names: Sequence[str], *,
                 group: str | None = None, optional: str | None = None, sync: bool = True,
                 text: str | None = None, apply: bool = True) -> EditResult:
    """Remove every entry of ``names``; like ``add``, nothing is written unless it all locks."""
    return await _edit(ctx, "remove", target, list(names), group=group, optional=optional, sync=sync,
                       torch_backend=None, text=text, apply=apply)


async def lock(ctx: Context, target: str | os.PathLike[str] | None = None, *, upgrade: bool = False,
               text: str | None = None, apply: bool = True) -> LockResult:
    """Resolve the declaration and write its PEP 751 lock (``upgrade``: ignore the current lock's versions)."""
    from pyx_server.engine.declared import lock_edits, resolve_lock
    from pyx_server.engine.loop import to_thread

    ctx, reporter = _begin(ctx, "lock")
    path = targets.target_path(ctx, target, text=text)
    started = time.perf_counter()
    async with targets.hold_declaration(ctx, path, reporter):
        current = targets.read_current(path, text)
        interpreter = await to_thread(targets.interpreter, ctx)
        locked = await resolve_lock(current.declaration, interpreter, index=ctx.index_settings(), cache=ctx.cache,
                                    reporter=reporter, upgrade=upgrade)
        edits, where = lock_edits(current.declaration, locked)
        if current.declaration.kind == "notebook":
            edits = targets.combine(current, edits)
        edits = [e for e in edits if e.changes]
        if apply:
            await _apply(ctx, current, edits, current.declaration, reporter, locked)
    packages = tuple(sorted((p.name, str(p.version) if p.version is not None else "") for p in locked.packages))
    return LockResult(ctx.operation, current.declaration.kind, path, where, packages, tuple(edits), apply,
                      time.perf_counter() - started)


async def sync(ctx: Context, target: str | os.PathLike[str] | None = None, *, locked: bool = False,
               frozen: bool = False, torch_backend: str | None = None) -> SyncResult:
    """Make the environment match the declaration's lock exactly (a stale lock is rewritten
    unless ``locked`` refuses it or ``frozen`` takes it as it is). A project's is its
    ``.venv``; a script's or notebook's lives in the environment store.

    The PyTorch build recorded in the file is kept (reported as ``torch`` with ``chosen``
    false); ``torch_backend`` chooses it again, which edits the file and relocks.
    """
    from pyx_server.engine.declared import has_lock, lock as lock_declaration, read_declaration, script_environment
    from pyx_server.engine.loop import to_thread

    ctx, reporter = _begin(ctx, "sync")
    path = targets.target_path(ctx, target)
    started = time.perf_counter()
    if not torch_backend and path.suffix in targets.INLINE_SUFFIXES:
        # a script or notebook: its environment is keyed by its content, so building it needs no
        # lock on the file; only rewriting its lock does (see ``stored_environment``)
        declaration = read_declaration(path, ctx.cache)
        torch = _recorded_torch(declaration)
        interpreter = await to_thread(targets.interpreter, ctx)
        stored = await targets.stored_environment(ctx, declaration, interpreter, reporter, locked=locked,
                                                  frozen=frozen)
        reporter.report(EnvironmentReady(str(stored.path), stored.created))
        seconds = time.perf_counter() - started
        return SyncResult(ctx.operation, declaration.kind, declaration.path, str(stored.path),
                          str(stored.path / "bin" / "python"), stored.created, torch, tuple(reporter.warnings),
                          InstallSummary.of(stored.result, seconds), seconds, stored.result)
    async with targets.hold_declaration(ctx, path, reporter):
        declaration = read_declaration(path, ctx.cache)
        torch = _recorded_torch(declaration)
        if torch_backend:
            if locked or frozen:
                raise UsageError("`--torch-backend` chooses the build again, which changes the lock: "
                                 "it cannot be combined with `--locked` or `--frozen`")
            current = targets.read_current(path)
            interpreter = await to_thread(targets.interpreter, ctx)
            new_text, torch = await _route_torch(ctx, declaration, current.text,
                                                 [str(r.requirement) for r in declaration.requirements],
                                                 torch_backend, interpreter, reporter)
            edits = targets.combine(current, [FileEdit.of_text(path, new_text, current.text)])
            if edits:
                await _apply(ctx, current, edits, declaration, reporter, None)
            declaration = read_declaration(path)
            if has_lock(declaration):  # the routing changed where files come from: lock again
                await lock_declaration(declaration, interpreter, index=ctx.index_settings(), cache=ctx.cache,
                                       reporter=reporter, upgrade=True)
        if declaration.kind == "project":
            environment, summary, install = await _sync_project(ctx, declaration, None, reporter, locked_flag=locked,
                                                                frozen=frozen)
            from pyx_server.engine.envs.environment import open_venv

            python = str(open_venv(Path(environment), cache=ctx.cache).interpreter.sys_executable)
            return SyncResult(ctx.operation, "project", declaration.path, environment, python, False, torch,
                              tuple(reporter.warnings), summary, time.perf_counter() - started, install)
        interpreter = await to_thread(targets.interpreter, ctx)
        stored = await script_environment(declaration, interpreter, index=ctx.index_settings(), cache=ctx.cache,
                                          locked=locked, frozen=frozen, reporter=reporter, store=ctx.data_dir())
    reporter.report(EnvironmentReady(str(stored.path), stored.created))
    seconds = time.perf_counter() - started
    return SyncResult(ctx.operation, declaration.kind, declaration.path, str(stored.path),
                      str(stored.path / "bin" / "python"), stored.created, torch, tuple(reporter.warnings),
                      InstallSummary.of(stored.result, seconds), seconds, stored.result)


def _recorded_torch(declaration) -> TorchBuild | None:
    """The PyTorch build the file records (kept by ``sync`` on any machine), or None."""
    if not declaration.pinned:
        return None
    from pyx_server.engine.gpu.variants import recorded_variant

    recorded = recorded_variant(declaration.pinned)
    if recorded is None:
        return None
    variant, packages = recorded
    return TorchBuild(variant, "recorded in the file", packages, chosen=False)


async def init(ctx: Context, path: str | os.PathLike[str] | None = None, *, name: str | None = None,
               requires_python: str | None = None, apply: bool = True) -> InitResult:
    """Create the minimal ``pyproject.toml`` ``uv init --bare`` writes (never over an existing one)."""
    from pyx_server.engine.project import init_project, new_project_text, project_from_text

    ctx, reporter = _begin(ctx, "init")
    directory = ctx.cwd if path is None else ctx.path(path)
    target, text = new_project_text(directory, name=name, requires_python=requires_python)
    if apply:
        init_project(directory, name=name, requires_python=requires_python)
        reporter.report(DeclarationEdited(str(target)))
    project = project_from_text(text, target)
    return InitResult(ctx.operation, target, str(project.name), str(project.requires_python),
                      (FileEdit.of_text(target, text, None),), apply)


async def tree(ctx: Context, target: str | os.PathLike[str] | None = None) -> TreeResult:
    """The dependency tree of the declaration's lock (locking first when there is none), as data."""
    from pyx_server.engine.declared import lock as lock_declaration, read_current_lock, read_declaration
    from pyx_server.engine.loop import to_thread

    ctx, reporter = _begin(ctx, "tree")
    path = targets.target_path(ctx, target)
    async with targets.hold_declaration(ctx, path, reporter):
        declaration = read_declaration(path)
        locked = read_current_lock(declaration)
        if locked is None:
            interpreter = await to_thread(targets.interpreter, ctx)
            locked, _ = await lock_declaration(declaration, interpreter, index=ctx.index_settings(), cache=ctx.cache,
                                               reporter=reporter)
    by_name = {p.name: p for p in locked.packages}
    shown: set[str] = set()

    def node(name: str, path_names: frozenset[str]) -> TreeNode:
        package = by_name.get(name)
        version = str(package.version) if package is not None and package.version is not None else None
        if name in shown or name in path_names:
            return TreeNode(name, version, (), repeated=package is not None and bool(package.dependencies))
        shown.add(name)
        children = tuple(node(d.name, path_names | {name}) for d in (package.dependencies if package else ()))
        return TreeNode(name, version, children)

    from packaging.utils import canonicalize_name

    roots = tuple(node(canonicalize_name(n), frozenset()) for n in dict.fromkeys(r.name for r in declaration.requirements))
    project = declaration.project
    if declaration.kind == "project" and project is not None and project.name is not None:
        root, version = str(project.name), str(project.version) if project.version is not None else None
    else:
        root, version = declaration.path.name, None
    return TreeResult(ctx.operation, declaration.kind, declaration.path, root, version, roots)
