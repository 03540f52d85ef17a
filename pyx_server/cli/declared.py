"""The declarative verbs of the `pyx` command line: init, add, remove, lock, sync, run, tree.

Same meaning as uv's. A target is a script or notebook (``--script FILE`` / ``--notebook NB``,
or a ``.py`` given to ``run``) or the project around the working directory. All the work is
in ``engine.api`` (``add``, ``remove``, ``lock``, ``sync``, ``init``, ``tree``,
``environment_for``); this module parses flags, builds the ``Context`` and renders results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from pyx_server.engine.errors import UsageError
from pyx_server.engine.progress import Notice, Reporter


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


def _target(args) -> str | None:
    """The ``--script`` / ``--notebook`` file, or None: the project around the working directory."""
    chosen = getattr(args, "script", None) or getattr(args, "notebook", None)
    return chosen if isinstance(chosen, str) else None


class _WarningsLater(Reporter):
    """Passes events to the progress display, except warnings: the result carries those (with
    their hints) and they are shown once, after the progress."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.wants_progress = inner.wants_progress

    def no_threads(self):
        return self.inner.no_threads()

    def report(self, event) -> None:
        if isinstance(event, Notice) and event.level == "warning":
            return
        self.inner.report(event)


def _gpu_readers():
    """How GPU detection reads this machine (``cli.gpu``'s, which tests replace)."""
    from pyx_server.cli import gpu as cli_gpu

    return cli_gpu._readers()


@contextlib.contextmanager
def _context(args, console, *, gpu: bool = False):
    """The request's ``Context`` (this process's environment and directory, the flags), with
    the terminal's progress reporter; ``gpu``: the verb may detect the machine's GPU."""
    from pyx_server.cli.flags import context
    from pyx_server.cli.progressbars import reporter_for

    with reporter_for(console, enabled=console.progress and not getattr(args, "no_progress", False)) as reporter:
        yield context(args, reporter=_WarningsLater(reporter), gpu=_gpu_readers() if gpu else None)


def _warn(console, warnings) -> None:
    for warning in warnings:
        console.warn(warning.message)
        for hint in warning.hints:
            console.hint(hint)


def _lock_label(where: str) -> str:
    return where if "(" in where else Path(where).name


def cmd_init(args, console, helpers) -> int:
    from pyx_server.engine.api import init, run

    with _context(args, console) as ctx:
        result = run(init(ctx, args.path, name=args.name, requires_python=args.requires_python))
    console.status(f"Initialized project at `{result.path}`")
    return 0


def cmd_lock(args, console, helpers) -> int:
    from pyx_server.engine.api import lock, run

    with _context(args, console) as ctx:
        result = run(lock(ctx, _target(args), upgrade=args.upgrade))
    console.status(console.dim(
        f"Resolved {helpers.plural(len(result.packages), 'package')} in {helpers.elapsed(result.seconds)}"
    ))
    console.status(f"Wrote `{result.lock}`")
    return 0


def _render_torch(console, torch) -> None:
    if torch is None:
        return
    if torch.chosen:
        console.status(f"PyTorch build: `{torch.variant}` ({torch.reason})")
    else:
        console.status(f"Keeping the recorded PyTorch build `{torch.variant}` for {', '.join(torch.packages)} "
                       "(`--torch-backend auto` chooses for this machine again)")


def cmd_sync(args, console, helpers) -> int:
    from pyx_server.engine.api import run, sync

    with _context(args, console, gpu=bool(args.torch_backend)) as ctx:
        result = run(sync(ctx, _target(args), locked=args.locked, frozen=args.frozen,
                          torch_backend=args.torch_backend))
    _warn(console, result.warnings)
    _render_torch(console, result.torch)
    if result.kind == "project":
        helpers.render_install(result.install, console, result.seconds)
        return 0
    verb = "Created" if result.created else "Using"
    console.status(f"{verb} the environment of `{result.path.name}` at `{result.environment}` "
                   f"in {helpers.elapsed(result.seconds)}")
    return 0


def cmd_add(args, console, helpers, *, removing: bool = False) -> int:
    from pyx_server.engine.api import add, remove, run

    with _context(args, console, gpu=not removing) as ctx:
        if removing:
            result = run(remove(ctx, _target(args), list(args.names), group=args.group, optional=args.optional,
                                sync=not args.no_sync))
        else:
            result = run(add(ctx, _target(args), list(args.requirements), group=args.group, optional=args.optional,
                             sync=not args.no_sync, torch_backend=args.torch_backend))
    _warn(console, result.warnings)
    _render_torch(console, result.torch)
    names = ", ".join(f"`{r}`" for r in result.requirements)
    if removing:
        console.status(f"Removed {names} from `{result.path.name}`")
    else:
        console.status(f"Added {names} to `{result.path.name}`")
    if result.lock is not None:
        console.status(f"Updated the lock in `{_lock_label(result.lock)}`")
    if result.install is not None:
        helpers.render_install(result.install, console, result.synced.seconds if result.synced else 0.0)
    return 0


def cmd_run(args, console, helpers) -> int:
    from pyx_server.engine.api import environment_for, run, stamp_run

    target = Path(args.target)
    if target.suffix == ".ipynb" and not args.script:
        raise UsageError(f"`{args.target}` is a notebook: running notebooks is not supported yet",
                         hints=[f"build its environment with `pyx sync --notebook {args.target}`, then open it in "
                                "Jupyter (or run `jupyter lab`)"])
    is_file = args.script or (target.suffix in (".py", ".pyw") and target.is_file())
    with _context(args, console) as ctx:
        info = run(environment_for(ctx, args.target if is_file else None, with_requirements=args.with_requirements,
                                   locked=args.locked, frozen=args.frozen))
    if is_file:
        argv = list(getattr(args, "argv", None) or [])
        if not args.with_requirements and argv[:1] == ["run"]:
            stamp_run(ctx, argv[1:], info)
        return _exec([str(info.python), args.target, *args.args])
    command = args.target
    if (info.bin_dir / command).exists():
        command = str(info.bin_dir / command)
    os.environ.update(info.variables)
    return _exec([command, *args.args])


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
    from pyx_server.engine.api import run, tree

    with _context(args, console) as ctx:
        result = run(tree(ctx, _target(args)))
    for line in tree_lines(result):
        console.data(line)
    return 0


def tree_lines(result) -> list[str]:
    """The tree as uv draws it: a root line, ``├──`` / ``└──`` branches, ``│   `` continuation
    and ``(*)`` after a package whose dependencies were shown above."""
    lines = [result.root + (f" v{result.version}" if result.version else "")]

    def draw(nodes, prefix: str) -> None:
        for i, node in enumerate(nodes):
            last = i == len(nodes) - 1
            version = f" v{node.version}" if node.version else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{node.name}{version}{' (*)' if node.repeated else ''}")
            draw(node.children, prefix + ("    " if last else "│   "))

    draw(result.dependencies, "")
    return lines
