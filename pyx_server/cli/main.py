"""The `pyx` command line: parses flags, calls ``engine.api``, renders its results and errors.

Kept thin: every decision lives in the engine's use cases. This module holds the ``Console``
(where text goes, and the one renderer of errors), the small verbs (``venv``, ``cache``) and
the dispatch; the parser is ``cli.parser``, the pip verbs ``cli.pipcmds``, the declarative
verbs ``cli.declared``, ``gpu`` ``cli.gpu``. Imports are lazy so that a no-op ``pyx pip sync``
loads neither httpx nor rich. Human-readable status goes to stderr (as uv does); data
(``list``, ``freeze``, ``show``, ``cache dir``) goes to stdout.
"""

from __future__ import annotations

import os
import sys

from pyx_server.cli.parser import (  # noqa: F401 - the parser's names, as callers know them
    _DECLARED,
    _global_options,
    _index_options,
    _python_options,
    build_parser,
)
from pyx_server.cli.render import elapsed, plural, render_install
from pyx_server.engine.errors import PyxError

EXIT_ERROR = 2


class Console:
    """Where the CLI writes: stderr for status, stdout for data; colour only on a terminal."""

    def __init__(self, quiet: int = 0, verbose: int = 0, color: str = "auto") -> None:
        self.quiet = quiet
        self.verbose = verbose
        tty = sys.stderr.isatty()
        self.color = color == "always" or (color == "auto" and tty and not os.environ.get("NO_COLOR"))
        self.progress = tty and not quiet

    def _style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self._style(text, "1")

    def dim(self, text: str) -> str:
        return self._style(text, "2")

    def status(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)

    def detail(self, text: str) -> None:
        if self.verbose:
            print(self.dim(text), file=sys.stderr)

    def data(self, text: str) -> None:
        print(text)

    def warn(self, text: str) -> None:
        if self.quiet < 2:
            print(f"{self._style('warning', '1;33')}: {text}", file=sys.stderr)

    def hint(self, text: str) -> None:
        """A hint under a warning, styled as the hints of errors are."""
        if self.quiet < 2:
            print(f"  {self._style('hint', '1;36')}: {text}", file=sys.stderr)

    def error(self, err: PyxError) -> None:
        """The one renderer of engine errors for the terminal.

        A location goes first, as compilers write it (``path:line:column: error: …``, with the
        cell as ruff writes it for notebooks: ``nb.ipynb:cell 2:3:5``), so terminals and
        editors can follow it.
        """
        where = ""
        if err.location is not None:
            loc = err.location
            parts = [loc.path]
            if loc.cell is not None:
                parts.append(f"cell {loc.cell + 1}")
            if loc.line is not None:
                parts.append(str(loc.line))
                if loc.column is not None:
                    parts.append(str(loc.column))
            where = self._style(":".join(parts), "1") + ": "
        print(f"{where}{self._style('error', '1;31')}: {err.message}", file=sys.stderr)
        for key, value in err.context.items():
            if self.verbose:
                print(f"  {self.dim(key + ':')} {value}", file=sys.stderr)
        for hint in err.hints:
            print(f"  {self._style('hint', '1;36')}: {hint}", file=sys.stderr)
        if err.detail and self.verbose:
            print(err.detail, file=sys.stderr)


# -- the small verbs -----------------------------------------------------------------------------


def cmd_venv(args, console: Console) -> int:
    from pyx_server.cli.flags import context
    from pyx_server.cli.progressbars import reporter_for
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.maintenance import venv

    with reporter_for(console, enabled=console.progress and not args.no_progress and args.seed) as reporter:
        result = run(venv(
            context(args, reporter=reporter),
            args.path,
            seed=args.seed,
            prompt=args.prompt,
            system_site_packages=args.system_site_packages,
            allow_existing=args.allow_existing,
            relocatable=args.relocatable,
        ))
    console.status(f"Using Python {result.python_version} interpreter at: {result.base_python}")
    console.status(f"Created virtual environment at: {result.path} in {elapsed(result.seconds)}")
    for change in result.seeded:
        console.status(f" + {change.name}=={change.version}")
    console.status(f"Activate with: source {result.activate}")
    return 0


def cmd_cache(args, console: Console) -> int:
    from pyx_server.cli.flags import context
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api import maintenance

    from pyx_server.cli.progressbars import NoticePrinter

    ctx = context(args, reporter=NoticePrinter(console))  # "waiting for …" while an install runs
    if args.cache_command == "dir":
        console.data(run(maintenance.cache_dir(ctx)).path)
        return 0
    if args.cache_command == "clean":
        cleaned = run(maintenance.cache_clean(ctx, args.package))
        if cleaned.files is not None:
            console.status(f"Cleaned {plural(cleaned.files, 'file')} from {cleaned.path}")
        for name, removed in cleaned.packages:
            if removed:
                console.status(f"Removed {plural(removed, 'entry')} for `{name}`")
            else:
                console.status(f"No cache entries found for `{name}`")
        return 0
    if args.cache_command == "prune":
        pruned = run(maintenance.cache_prune(ctx))
        console.status(f"Pruned {plural(len(pruned.entries), 'entry')}"
                       + (f" and {plural(len(pruned.environments), 'unused environment')}" if pruned.environments else ""))
        return 0
    console.status("usage: pyx cache {dir,clean,prune}")
    return EXIT_ERROR


def _cache(args):
    """The global cache the flags name (``--cache-dir``, else ``PYX_CACHE_DIR`` …)."""
    from pyx_server.cli.flags import context

    return context(args).cache


def _index_settings(args, extra=None):
    """The indexes the flags (and ``extra``, a requirements file's options) name."""
    from pyx_server.cli.flags import context

    return context(args).index_settings(extra=extra)


class _Helpers:
    """What the declarative verbs (``cli_declared``) share with this module."""

    cache = staticmethod(_cache)
    index_settings = staticmethod(_index_settings)
    plural = staticmethod(plural)
    elapsed = staticmethod(elapsed)
    render_install = staticmethod(render_install)


def dispatch(args, console: Console) -> int:
    if args.command in _DECLARED:
        from pyx_server.cli import declared as cli_declared

        if args.command == "remove":
            return cli_declared.cmd_add(args, console, _Helpers, removing=True)
        return getattr(cli_declared, f"cmd_{args.command}")(args, console, _Helpers)
    if args.command == "gpu":
        from pyx_server.cli import gpu as cli_gpu

        return cli_gpu.cmd_gpu(args, console, _Helpers)
    if args.command == "venv":
        return cmd_venv(args, console)
    if args.command == "cache":
        return cmd_cache(args, console)
    if args.command == "pip":
        from pyx_server.cli import pipcmds

        sub = args.pip_command
        if sub == "sync":
            return pipcmds.cmd_pip_install(args, console, exact=True)
        if sub == "install":
            return pipcmds.cmd_pip_install(args, console, exact=False)
        if sub == "uninstall":
            return pipcmds.cmd_uninstall(args, console)
        if sub == "compile":
            return pipcmds.cmd_compile(args, console)
        if sub == "check":
            return pipcmds.cmd_check(args, console)
        if sub == "list":
            return pipcmds.cmd_list(args, console, args.format)
        if sub == "freeze":
            return pipcmds.cmd_list(args, console, "freeze")
        if sub == "show":
            return pipcmds.cmd_show(args, console)
    build_parser().print_help(sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    console = Console(args.quiet, args.verbose, args.color)
    try:
        return dispatch(args, console)
    except PyxError as err:
        console.error(err)
        if getattr(args, "format", None) == "json":
            import json

            payload = {"error": err.to_dict()}
            if callable(getattr(err, "tree", None)):
                payload["error"]["explanation"] = err.report()
                payload["error"]["derivation"] = err.tree()
            console.data(json.dumps(payload, indent=2))
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`pyx pip list | head`): stop quietly, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
