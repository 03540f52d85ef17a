"""The `pyx` command line's parser: every verb's flags, built lazily for the verb asked for.

Flags follow uv's and pip's spelling where the meaning is the same. Only the parser of the
command that ``argv`` reaches is built (argparse would build them all, about 10 ms); the
declarative verbs and ``gpu`` register theirs from their own modules.
"""

from __future__ import annotations

import argparse

from pyx_server import __version__


# -- argument parsing -----------------------------------------------------------------------


def _global_options(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Options accepted before or after the command (``pyx -v pip sync`` = ``pyx pip sync -v``).

    Sub-commands use SUPPRESS defaults so they do not overwrite a value given earlier.
    """

    def default(value):
        return value if top else argparse.SUPPRESS

    g = p.add_argument_group("global options")
    g.add_argument("-q", "--quiet", action="count", default=default(0), help="say less (twice: nothing)")
    g.add_argument("-v", "--verbose", action="count", default=default(0), help="say more, with details of errors")
    g.add_argument("--color", choices=("auto", "always", "never"), default=default("auto"))
    g.add_argument("--no-progress", action="store_true", default=default(False), help="never show progress bars")
    g.add_argument("--cache-dir", metavar="DIR", default=default(None), help="the global cache (default: PYX_CACHE_DIR or the user cache dir)")


def _python_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--python", metavar="PYTHON", help="interpreter or environment to act on")
    p.add_argument("--system", action="store_true", help="allow acting on a Python that is not in a virtual environment")
    p.add_argument("--break-system-packages", action="store_true", help="allow changing a Python that its distributor manages (PEP 668)")


def _index_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index options")
    g.add_argument("-i", "--index-url", metavar="URL", help="the main package index (default: pip's configuration)")
    g.add_argument("--extra-index-url", metavar="URL", action="append", default=[], help="more indexes, tried before the main one")
    g.add_argument("-f", "--find-links", metavar="PATH_OR_URL", action="append", default=[], help="a directory or page listing wheels")
    g.add_argument("--no-index", action="store_true", help="use only --find-links locations")
    g.add_argument(
        "--index-strategy",
        choices=("first-index", "unsafe-first-match", "unsafe-best-match"),
        help="how to combine several indexes (default: first-index: a name is taken from the first index that has it)",
    )
    g.add_argument("--offline", action="store_true", help="use only the cache; never touch the network")


def _resolve_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("resolution options")
    g.add_argument("-U", "--upgrade", action="store_true", help="allow upgrading every package (ignore installed versions)")
    g.add_argument("-P", "--upgrade-package", metavar="NAME", action="append", default=[], help="allow upgrading this package")
    g.add_argument(
        "--prerelease",
        choices=("allow", "disallow", "if-necessary", "explicit", "if-necessary-or-explicit"),
        help="when pre-releases may be chosen (default: if-necessary-or-explicit)",
    )
    g.add_argument("--resolution", choices=("highest", "lowest", "lowest-direct"), help="which versions to prefer")
    g.add_argument("--exclude-newer", metavar="DATE", help="ignore files uploaded after this date (RFC 3339 or YYYY-MM-DD)")
    g.add_argument("--override", metavar="FILE", action="append", default=[], help="requirements that replace every other requirement on their package")
    g.add_argument("--no-build", action="store_true", help="never build from source: use wheels only")
    g.add_argument("--no-build-package", metavar="NAME", action="append", default=[], help="never build this package from source")
    g.add_argument("--only-binary", metavar="NAME|:all:", action="append", default=[], help="pip's spelling of --no-build(-package)")
    g.add_argument("--no-binary", metavar="NAME|:all:", action="append", default=[], help="never use wheels of this package (or of any: `:all:`)")


def _install_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-r", "--requirement", metavar="FILE", action="append", default=[], help="install from a requirements file")
    p.add_argument("-c", "--constraint", metavar="FILE", action="append", default=[], help="restrict versions without adding requirements")
    p.add_argument("--link-mode", choices=("clone", "hardlink", "copy", "symlink"), help="how files get from the cache into the environment (PYX_LINK_MODE)")
    p.add_argument("--dry-run", action="store_true", help="show the plan and change nothing")
    p.add_argument("--require-hashes", action="store_true", help="every requirement must be pinned and carry --hash")
    p.add_argument("--reinstall", "--force-reinstall", action="store_true", help="reinstall every package")
    p.add_argument("--reinstall-package", metavar="NAME", action="append", default=[])
    p.add_argument("--pre", action="store_true", help="allow pre-releases")
    p.add_argument("--refresh", action="store_true", help="ask the indexes again, even for pins already in the cache")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format of the summary")
    _python_options(p)
    _index_options(p)


class _Skipped:
    """Stands in for the parser of a command this command line cannot reach: every call is
    accepted and ignored, so the code that describes that command runs at no cost."""

    def __getattr__(self, name: str):
        return self._ignore

    def _ignore(self, *args, **kwargs) -> _Skipped:
        return self


class _Commands:
    """A sub-command action that builds only the ``wanted`` command's parser (all when None).

    argparse builds every sub-parser up front, about 10 ms for pyx's; a command such as
    ``pyx pip sync`` needs one of them.
    """

    def __init__(self, action, wanted: str | None) -> None:
        self.action, self.wanted = action, wanted

    def add_parser(self, name: str, **kwargs):
        if self.wanted is None or name == self.wanted:
            return self.action.add_parser(name, **kwargs)
        return _Skipped()

    def reached(self) -> bool:
        return self.wanted is None or self.wanted in self.action.choices


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``argv``, only the parts that ``argv`` can reach."""
    if argv:
        wanted = argv[0] if not argv[0].startswith("-") else None
        sub = argv[1] if wanted == "pip" and len(argv) > 1 and not argv[1].startswith("-") else None
        parser, commands, pip_commands = _build(wanted, sub)
        if commands.reached() and (pip_commands is None or pip_commands.reached()):
            return parser
    return _build(None, None)[0]  # a mistyped command: argparse lists every choice


def _build(wanted: str | None, pip_wanted: str | None):
    parser = argparse.ArgumentParser(
        prog="pyx",
        description="A fast Python environment manager for notebooks and editors.",
    )
    parser.add_argument("--version", action="version", version=f"pyx {__version__}")
    _global_options(parser, top=True)
    commands = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), wanted)
    pip_commands = None

    venv = commands.add_parser("venv", help="create a virtual environment")
    venv.add_argument("path", nargs="?", default=".venv")
    venv.add_argument("--seed", action="store_true", help="install pip into the new environment")
    venv.add_argument("--prompt")
    venv.add_argument("--system-site-packages", action="store_true")
    venv.add_argument("--allow-existing", action="store_true")
    venv.add_argument("--relocatable", action="store_true", help="activation scripts that work after the venv is moved")
    venv.add_argument("-p", "--python", metavar="PYTHON", help="the interpreter to base it on")
    _index_options(venv)
    _global_options(venv)

    pip = commands.add_parser("pip", help="pip-compatible commands")
    if not isinstance(pip, _Skipped):
        pip_commands = _Commands(pip.add_subparsers(dest="pip_command", metavar="COMMAND"), pip_wanted)
    pipcmds = pip_commands or _Skipped()
    sync = pipcmds.add_parser("sync", help="make the environment match a lock exactly")
    sync.add_argument("src", nargs="*", metavar="REQUIREMENTS", help="requirements files (pinned)")
    _install_options(sync)
    _global_options(sync)

    inst = pipcmds.add_parser("install", help="install packages")
    inst.add_argument("packages", nargs="*", metavar="PACKAGE")
    inst.add_argument("--no-deps", action="store_true", help="install only the packages named (no dependency resolution)")
    inst.add_argument("-e", "--editable", metavar="PATH", action="append", default=[], help="install a source tree in editable mode (PEP 660)")
    _install_options(inst)
    _resolve_options(inst)
    _global_options(inst)

    comp = pipcmds.add_parser("compile", help="resolve requirements into a pinned requirements file")
    comp.add_argument("src", nargs="+", metavar="SRC", help="requirements files (.in / .txt)")
    comp.add_argument("-o", "--output-file", metavar="FILE", help="where to write the pins (default: stdout)")
    comp.add_argument("--generate-hashes", action="store_true", help="add every file's sha256 of each pinned version")
    comp.add_argument("--no-annotate", action="store_true", help="leave out the `# via` comments")
    comp.add_argument("--no-header", action="store_true", help="leave out the header comment")
    comp.add_argument("-c", "--constraint", metavar="FILE", action="append", default=[])
    comp.add_argument("--pre", action="store_true", help="allow pre-releases")
    comp.add_argument("--format", choices=("requirements.txt", "json"), default="requirements.txt")
    comp.add_argument("--python-version", metavar="X.Y[.Z]", help="resolve for this Python version (markers, Requires-Python, wheel tags)")
    _python_options(comp)
    _index_options(comp)
    _resolve_options(comp)
    _global_options(comp)

    chk = pipcmds.add_parser("check", help="verify installed packages have compatible dependencies")
    _python_options(chk)
    _global_options(chk)

    un = pipcmds.add_parser("uninstall", help="remove packages")
    un.add_argument("packages", nargs="*", metavar="PACKAGE")
    un.add_argument("-r", "--requirement", metavar="FILE", action="append", default=[])
    un.add_argument("-y", "--yes", action="store_true", help="accepted for pip compatibility (pyx never asks)")
    un.add_argument("--dry-run", action="store_true")
    _python_options(un)
    _global_options(un)

    lst = pipcmds.add_parser("list", help="list installed packages")
    lst.add_argument("--format", choices=("columns", "json", "freeze"), default="columns")
    _python_options(lst)
    _global_options(lst)

    frz = pipcmds.add_parser("freeze", help="installed packages as requirements")
    _python_options(frz)
    _global_options(frz)

    show = pipcmds.add_parser("show", help="details of installed packages")
    show.add_argument("packages", nargs="+", metavar="PACKAGE")
    _python_options(show)
    _global_options(show)

    if wanted is None or wanted in _DECLARED:
        from pyx_server.cli import declared as cli_declared

        cli_declared.add_parsers(commands, _global_options, _index_options, _python_options)
    if wanted is None or wanted == "gpu":
        from pyx_server.cli import gpu as cli_gpu

        cli_gpu.add_parsers(commands, _global_options, _index_options)

    cache = commands.add_parser("cache", help="inspect and clean the global cache")
    cachecmds = cache.add_subparsers(dest="cache_command", metavar="COMMAND")
    d = cachecmds.add_parser("dir", help="print the cache directory")
    _global_options(d)
    c = cachecmds.add_parser("clean", help="remove the whole cache, or one package's entries")
    c.add_argument("package", nargs="*")
    _global_options(c)
    pr = cachecmds.add_parser("prune", help="remove unused entries")
    _global_options(pr)
    return parser, commands, pip_commands


#: the verbs ``cli_declared`` registers
_DECLARED = ("init", "add", "remove", "lock", "sync", "run", "tree")

