"""The declarative verbs of the `pyx` command line: init, add, remove, lock, sync, run, tree.

Same meaning as uv's. A target is a script or notebook (``--script FILE`` / ``--notebook NB``,
or a ``.py`` given to ``run``) or the project around the working directory. All the work is
in ``engine.declared``; this module parses flags and renders results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pyx_server.engine.errors import PyxError, UsageError


def add_parsers(commands, global_options, index_options, python_options) -> None:
    """Register the verbs on the top-level sub-command parser."""
    init = commands.add_parser("init", help="create a minimal project (pyproject.toml)")
    init.add_argument("path", nargs="?", default=".")
    init.add_argument("--name")
    init.add_argument("--requires-python", metavar="SPEC")
    global_options(init)

    def target(p):
        g = p.add_mutually_exclusive_group()
        g.add_argument("--script", metavar="FILE", help="a script with PEP 723 inline metadata")
        g.add_argument("--notebook", metavar="NB", help="a notebook whose first code cell holds PEP 723 metadata")

    add = commands.add_parser("add", help="add dependencies to a project, script or notebook")
    add.add_argument("requirements", nargs="+", metavar="REQ")
    target(add)
    add.add_argument("--group", metavar="G", help="add to a dependency group (PEP 735)")
    add.add_argument("--optional", metavar="EXTRA", help="add to an optional extra")
    add.add_argument("--no-sync", action="store_true", help="only edit (and lock); do not install")
    add.add_argument("--torch-backend", metavar="auto|cpu|cuXYZ|rocmX.Y|xpu",
                     help="which PyTorch build to record for the PyTorch family (default: detect this machine's)")
    python_options(add)
    index_options(add)
    global_options(add)

    remove = commands.add_parser("remove", help="remove dependencies from a project, script or notebook")
    remove.add_argument("names", nargs="+", metavar="NAME")
    target(remove)
    remove.add_argument("--group", metavar="G")
    remove.add_argument("--optional", metavar="EXTRA")
    remove.add_argument("--no-sync", action="store_true")
    python_options(remove)
    index_options(remove)
    global_options(remove)

    lock = commands.add_parser("lock", help="resolve and write the PEP 751 lock (pylock.toml)")
    target(lock)
    lock.add_argument("-U", "--upgrade", action="store_true", help="ignore the versions in the current lock")
    python_options(lock)
    index_options(lock)
    global_options(lock)

    sync = commands.add_parser("sync", help="make the environment match the lock exactly")
    target(sync)
    sync.add_argument("--locked", action="store_true", help="fail if the lock is out of date")
    sync.add_argument("--frozen", action="store_true", help="use the lock as it is, without checking it")
    sync.add_argument("--torch-backend", metavar="auto|cpu|cuXYZ|rocmX.Y|xpu",
                      help="choose the PyTorch build again (by default the recorded one is kept)")
    python_options(sync)
    index_options(sync)
    global_options(sync)

    run = commands.add_parser("run", help="run a script or a command in its environment (synced first)")
    run.add_argument("--with", dest="with_requirements", metavar="REQ", action="append", default=[],
                     help="add a requirement for this run only")
    run.add_argument("--script", action="store_true", help="treat the target as a script even without .py")
    run.add_argument("--locked", action="store_true")
    run.add_argument("--frozen", action="store_true")
    python_options(run)
    index_options(run)
    global_options(run)
    run.add_argument("target", metavar="SCRIPT_OR_COMMAND")
    run.add_argument("args", nargs=argparse.REMAINDER)

    tree = commands.add_parser("tree", help="show the dependency tree of the lock")
    target(tree)
    python_options(tree)
    index_options(tree)
    global_options(tree)


def _target(args) -> Path:
    chosen = getattr(args, "script", None) or getattr(args, "notebook", None)
    path = Path(chosen) if isinstance(chosen, str) else Path.cwd()
    if isinstance(chosen, str) and not path.is_file():
        raise UsageError(f"`{chosen}` does not exist")
    return path


def _interpreter(args, cache):
    from pyx_server.engine.envs.interpreter import find_python_on_path, query_interpreter

    return query_interpreter(find_python_on_path(args.python), cache)


def _project_env(args, cache, declaration):
    """The project's ``.venv`` (created when missing)."""
    from pyx_server.engine.envs.environment import open_venv
    from pyx_server.engine.envs.venv import create_venv

    root = declaration.path.parent / ".venv"
    if (root / "pyvenv.cfg").is_file():
        return open_venv(root, cache=cache)
    return create_venv(root, _interpreter(args, cache), cache=cache)


def cmd_init(args, console, helpers) -> int:
    from pyx_server.engine.project.pyproject import init_project

    path = init_project(Path(args.path), name=args.name, requires_python=args.requires_python)
    console.status(f"Initialized project at `{path}`")
    return 0


def cmd_lock(args, console, helpers) -> int:
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.declared import lock, read_declaration

    cache = helpers.cache(args)
    declaration = read_declaration(_target(args))
    started = time.perf_counter()
    locked, path = run_engine(
        lock(declaration, _interpreter(args, cache), index=helpers.index_settings(args), cache=cache, upgrade=args.upgrade)
    )
    console.status(console.dim(
        f"Resolved {helpers.plural(len(locked.packages), 'package')} in {helpers.elapsed(time.perf_counter() - started)}"
    ))
    console.status(f"Wrote `{path}`")
    return 0


def cmd_sync(args, console, helpers) -> int:
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.declared import project_sync, read_declaration, script_environment

    cache = helpers.cache(args)
    path = _target(args)
    declaration = read_declaration(path, cache)
    settings = helpers.index_settings(args)
    started = time.perf_counter()
    if args.torch_backend:
        if args.locked or args.frozen:
            raise UsageError("`--torch-backend` chooses the build again, which changes the lock: "
                             "it cannot be combined with `--locked` or `--frozen`")
        _route_torch(args, cache, declaration, [str(r.requirement) for r in declaration.requirements], console)
        declaration = read_declaration(path)
        from pyx_server.engine.declared import has_lock, lock

        if has_lock(declaration):  # the routing changed where files come from: lock again
            run_engine(lock(declaration, _interpreter(args, cache), index=settings, cache=cache, upgrade=True))
    elif declaration.pinned:
        from pyx_server.engine.gpu.variants import recorded_variant

        recorded = recorded_variant(declaration.pinned)
        if recorded is not None:
            variant, packages = recorded
            console.status(f"Keeping the recorded PyTorch build `{variant}` for {', '.join(packages)} "
                           "(`--torch-backend auto` chooses for this machine again)")
    if declaration.kind == "project":
        env = _project_env(args, cache, declaration)
        result = run_engine(project_sync(declaration, env, index=settings, cache=cache,
                                          locked=args.locked, frozen=args.frozen))
        helpers.render_install(result, console, time.perf_counter() - started)
        return 0
    stored = run_engine(script_environment(declaration, _interpreter(args, cache), index=settings, cache=cache,
                                            locked=args.locked, frozen=args.frozen))
    verb = "Created" if stored.created else "Using"
    console.status(f"{verb} the environment of `{declaration.path.name}` at `{stored.path}` "
                   f"in {helpers.elapsed(time.perf_counter() - started)}")
    return 0


def cmd_add(args, console, helpers, *, removing: bool = False) -> int:
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.declared import lock, read_declaration

    cache = helpers.cache(args)
    path = _target(args)
    declaration = read_declaration(path)
    if removing:
        names = list(args.names)
        if declaration.kind == "project":
            from pyx_server.engine.project.pyproject import remove_dependencies

            remove_dependencies(declaration.path, names, group=args.group, optional=args.optional)
        else:
            from pyx_server.engine.inline import remove_dependencies

            remove_dependencies(declaration.path, names)
        console.status(f"Removed {', '.join(f'`{n}`' for n in names)} from `{declaration.path.name}`")
    else:
        _route_torch(args, cache, declaration, list(args.requirements), console)
        declaration = read_declaration(path)
        requirements = run_engine(_with_lower_bounds(args, cache, declaration, helpers))
        if declaration.kind == "project":
            from pyx_server.engine.project.pyproject import add_dependencies

            add_dependencies(declaration.path, requirements, group=args.group, optional=args.optional)
        else:
            from pyx_server.engine.inline import add_dependencies

            add_dependencies(declaration.path, requirements)
        console.status(f"Added {', '.join(f'`{r}`' for r in requirements)} to `{declaration.path.name}`")
    declaration = read_declaration(path)
    interpreter = _interpreter(args, cache)
    settings = helpers.index_settings(args)
    from pyx_server.engine.declared import has_lock

    if declaration.kind == "project" or has_lock(declaration):
        _, where = run_engine(lock(declaration, interpreter, index=settings, cache=cache))
        console.status(f"Updated the lock in `{Path(where).name if '(' not in where else where}`")
    if declaration.kind == "project" and not args.no_sync:
        from pyx_server.engine.declared import project_sync

        env = _project_env(args, cache, declaration)
        started = time.perf_counter()
        result = run_engine(project_sync(declaration, env, index=settings, cache=cache))
        helpers.render_install(result, console, time.perf_counter() - started)
    return 0


def _route_torch(args, cache, declaration, requirements, console) -> None:
    """``pyx add torch``: record the variant index this machine needs, or say why not; show the warnings."""
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.cli import gpu as cli_gpu
    from pyx_server.engine.declared import route_gpu_packages
    from pyx_server.engine.errors import TorchIndexNotConfigured
    from pyx_server.engine.gpu import is_torch_family
    from pyx_server.engine.progress import Notice, Reporter

    if not any(is_torch_family(_requirement_name(r)) for r in requirements):
        return
    notices: list[str] = []

    class _Notices(Reporter):
        def report(self, event) -> None:
            if isinstance(event, Notice) and event.level == "warning":
                notices.append(event.message)

    try:
        choice = run_engine(route_gpu_packages(declaration, requirements, cache=cache, torch_backend=args.torch_backend,
                                                readers=cli_gpu._readers(), tags=_interpreter(args, cache).tags,
                                                reporter=_Notices()))
    except TorchIndexNotConfigured as err:
        console.warn(f"the PyTorch family is installed from the default index, not the build for this machine's GPU: "
                     f"{err.message}")
        for hint in err.hints:
            console.hint(hint)
        return
    for message in notices:
        console.warn(message)
    if choice is not None:
        console.status(f"PyTorch build: `{choice.variant}` ({choice.reason})")
        for warning in choice.warnings:
            console.warn(warning)


def _requirement_name(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text).name
    except InvalidRequirement:
        return ""


async def _with_lower_bounds(args, cache, declaration, helpers) -> list[str]:
    """``add`` of a bare name writes ``name>=<resolved version>``, as uv does."""
    from pyx_server.engine.declared import index_for
    from pyx_server.engine.requirements import parse_requirement
    from pyx_server.engine.index.resolve import resolve_requirements

    specs = [parse_requirement(r) for r in args.requirements]
    bare = [s for s in specs if not s.url and not s.requirement.specifier]
    if not bare:
        return [str(s.requirement) for s in specs]
    interpreter = _interpreter(args, cache)
    result = await resolve_requirements(
        list(declaration.requirements) + specs, interpreter,
        index=index_for(declaration, helpers.index_settings(args)), cache=cache,
    )
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


def cmd_run(args, console, helpers) -> int:
    from pyx_server.engine.declared import read_declaration, script_environment
    from pyx_server.engine.requirements import parse_requirement

    cache = helpers.cache(args)
    settings = helpers.index_settings(args)
    extra = [parse_requirement(r, source="--with") for r in args.with_requirements]
    target = Path(args.target)
    is_script = args.script or (target.suffix in (".py", ".pyw") and target.is_file())
    if is_script:
        declaration = read_declaration(target, cache)
        interpreter = _interpreter(args, cache)
        if not extra and not args.locked and not args.frozen:
            from pyx_server.engine.declared import check_python, existing_script_environment

            check_python(declaration, interpreter)
            ready = existing_script_environment(declaration, interpreter, index=settings)
            if ready is not None:  # nothing changed since the last run: straight to the script
                _stamp_run(args, declaration, interpreter, ready)
                return _exec([str(ready / "bin" / "python"), str(target), *args.args])
        from pyx_server.engine.loop import run as run_engine

        stored = run_engine(script_environment(declaration, interpreter, index=settings, cache=cache,
                                                with_requirements=extra, locked=args.locked, frozen=args.frozen))
        if not extra:
            _stamp_run(args, declaration, interpreter, stored.path)
        python = stored.path / "bin" / "python"
        return _exec([str(python), str(target), *args.args])
    # a command: in the project's environment (synced first), or an ephemeral one for --with
    from pyx_server.engine.loop import run as run_engine

    try:
        declaration = read_declaration(Path.cwd())
    except PyxError:
        declaration = None
    if declaration is not None and declaration.kind == "project":
        from pyx_server.engine.declared import project_sync

        env = _project_env(args, cache, declaration)
        run_engine(project_sync(declaration, env, index=settings, cache=cache, locked=args.locked, frozen=args.frozen))
        if extra:
            raise UsageError("`--with` inside a project is not supported yet", hints=["add the requirement with `pyx add`"])
        bindir = env.root / "bin"
    else:
        from pyx_server.engine.declared import Declaration
        from pyx_server.engine.lock import lock_path_for

        ephemeral = Declaration("script", Path.cwd() / "<run>", tuple(extra), None, lock_path_for(Path.cwd() / "_run.py"))
        stored = run_engine(script_environment(ephemeral, _interpreter(args, cache), index=settings, cache=cache))
        bindir = stored.path / "bin"
    command = args.target
    if (bindir / command).exists():
        command = str(bindir / command)
    os.environ["VIRTUAL_ENV"] = str(bindir.parent)
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    return _exec([command, *args.args])


def _stamp_run(args, declaration, interpreter, environment: Path) -> None:
    """Remember that this run's environment is ready, so the next identical ``pyx run``
    starts the script without loading pyx (``engine.runstamp``; a stamp is only a shortcut)."""
    from pyx_server import __version__
    from pyx_server.engine.envs import runstamp
    from pyx_server.engine.declared import run_inputs
    from pyx_server.engine.envs.store import MARKER, data_dir

    argv = list(getattr(args, "argv", None) or [])
    if argv[:1] != ["run"]:
        return
    cwd = os.getcwd()
    runstamp.record(argv[1:], env=os.environ, cwd=cwd, version=__version__, data_dir=str(data_dir()),
                    python=str(environment / "bin" / "python"), marker=str(environment / MARKER),
                    files=[str(p) for p in run_inputs(declaration, interpreter, Path(cwd))])


def _exec(argv: list[str]) -> int:
    """Replace pyx with the program (signals and exit status are the program's own)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise UsageError(f"`{argv[0]}` was not found") from None
    return 0  # not reached


def cmd_tree(args, console, helpers) -> int:
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.declared import lock, read_current_lock, read_declaration

    cache = helpers.cache(args)
    declaration = read_declaration(_target(args))
    locked = read_current_lock(declaration)
    if locked is None:
        locked, _ = run_engine(lock(declaration, _interpreter(args, cache), index=helpers.index_settings(args), cache=cache))
    by_name = {p.name: p for p in locked.packages}
    roots = [r.name for r in declaration.requirements]

    def show(name: str, depth: int, seen: frozenset[str]) -> None:
        package = by_name.get(name)
        version = f" v{package.version}" if package is not None and package.version is not None else ""
        mark = " (*)" if name in seen else ""
        console.data(f"{'    ' * (depth - 1) + '├── ' if depth else ''}{name}{version}{mark}")
        if package is None or name in seen:
            return
        for dep in package.dependencies:
            show(dep.name, depth + 1, seen | {name})

    for name in roots:
        show(name, 0, frozenset())
    return 0
