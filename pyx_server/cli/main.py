"""The `pyx` command line: parses flags, calls the engine, renders its results and errors.

Kept thin: every decision lives in ``pyx_server.engine``. Imports are lazy so that a no-op
``pyx pip sync`` loads neither httpx nor rich. Human-readable status goes to stderr (as uv
does); data (``list``, ``freeze``, ``show``, ``cache dir``) goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pyx_server import __version__
from pyx_server.engine.errors import PyxError, UsageError

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


def elapsed(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def plural(n: int, word: str) -> str:
    """``1 package``, ``2 packages``, ``3 entries``."""
    if n == 1:
        return f"{n} {word}"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"


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


# -- commands --------------------------------------------------------------------------------


def _cache(args):
    from pyx_server.engine.cache import Cache

    return Cache(args.cache_dir) if args.cache_dir else Cache()


def _environment(args, cache):
    from pyx_server.engine.envs.environment import find_environment

    return find_environment(python=args.python, system=args.system, cache=cache)


def _index_settings(args, extra=None):
    from pyx_server.engine.config import resolve_index_settings

    extra_index = list(args.extra_index_url)
    find_links = list(args.find_links)
    index_url = args.index_url
    no_index = args.no_index
    if extra is not None:
        index_url = index_url or extra.index_url
        extra_index += [u for u in extra.extra_index_urls if u not in extra_index]
        find_links += [u for u in extra.find_links if u not in find_links]
        no_index = no_index or extra.no_index
    return resolve_index_settings(
        index_url=index_url,
        extra_index_urls=extra_index,
        find_links=find_links,
        no_index=no_index,
        offline=args.offline,
        strategy=args.index_strategy,
    )


def _read_requirements(args, names: list[str], files: list[str]):
    from pyx_server.engine.requirements import RequirementsFile, parse_requirement, parse_requirements_file

    collected = RequirementsFile()
    for name in names:
        collected.requirements.append(parse_requirement(name))
    for file in files:
        if file.startswith("-c"):
            nested = parse_requirements_file(file[2:])
            collected.constraints += nested.requirements + nested.constraints
            continue
        collected.merge(parse_requirements_file(file))
    return collected


def cmd_pip_install(args, console: Console, *, exact: bool) -> int:
    from pyx_server.engine.install.operations import InstallOptions, audit, install, unpinned

    from packaging.utils import canonicalize_name

    from pyx_server.engine.requirements import apply_constraints

    files = list(args.requirement) + (list(args.src) if exact else [])
    if exact and not files:
        raise UsageError("`pyx pip sync` needs a requirements file", hints=["pyx pip sync requirements.txt"])
    reqs = _read_requirements(args, [] if exact else args.packages, files + [f"-c{c}" for c in args.constraint])
    if not exact:
        from pyx_server.engine.requirements import parse_editable

        reqs.requirements += [parse_editable(path, source="-e") for path in args.editable]
    if not reqs.requirements and not exact:
        raise UsageError("nothing to install: name packages or pass `-r FILE`")
    if exact or args.no_deps:
        reqs.requirements = apply_constraints(reqs.requirements, reqs.constraints)
    resolving = not exact and not args.no_deps
    if exact and unpinned(reqs.requirements):
        loose = ", ".join(f"`{s}`" for s in unpinned(reqs.requirements)[:5])
        console.warn(f"not pinned with `==`: {loose}; `pyx pip sync` installs the best match of each without its dependencies")
    cache = _cache(args)
    env = _environment(args, cache)
    console.detail(f"environment: {env.root}")
    console.detail(f"cache: {cache.root}")
    require_hashes = args.require_hashes or any(spec.hashes for spec in reqs.requirements)
    options = InstallOptions(
        exact=exact,
        reinstall=True if args.reinstall else frozenset(canonicalize_name(n) for n in args.reinstall_package),
        dry_run=args.dry_run,
        require_hashes=require_hashes,
        link_mode=args.link_mode,
        prereleases=args.pre or reqs.prerelease,
        refresh=args.refresh,
        break_system_packages=args.break_system_packages,
        resolve=resolving,
        resolve_options=_resolve_settings(args, reqs) if resolving else None,
    )
    started = time.perf_counter()
    result = None if args.format == "json" or resolving else audit(reqs.requirements, env, options)
    if result is not None:
        _render_install(result, console, time.perf_counter() - started)
        return 0
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.cli.progressbars import reporter_for

    settings = _index_settings(args, reqs)
    if console.verbose:
        from pyx_server.engine.config import redact_url

        for url in settings.indexes:
            console.detail(f"index: {redact_url(url)}")
        for url in settings.find_links:
            console.detail(f"find-links: {redact_url(url)}")
    with reporter_for(console, enabled=console.progress and not args.no_progress) as reporter:
        result = run_engine(
            install(reqs.requirements, env, index=settings, cache=cache, options=options, reporter=reporter)
        )
    total = time.perf_counter() - started
    if args.format == "json":
        import json

        console.data(json.dumps(_result_json(result, env), indent=2))
        return 0
    _render_install(result, console, total)
    return 0


def _resolve_settings(args, reqs):
    """``ResolveOptions`` from the resolution flags (and the files' constraints)."""
    from datetime import datetime, timezone

    from packaging.utils import canonicalize_name

    from pyx_server.engine.requirements import parse_requirements_file
    from pyx_server.engine.index.resolve import ResolveOptions
    from pyx_server.engine.resolver import PrereleaseMode, ResolutionMode

    prerelease = PrereleaseMode(args.prerelease) if args.prerelease else (
        PrereleaseMode.ALLOW if (getattr(args, "pre", False) or reqs.prerelease) else PrereleaseMode.IF_NECESSARY_OR_EXPLICIT
    )
    exclude_newer = None
    if args.exclude_newer:
        try:
            exclude_newer = datetime.fromisoformat(args.exclude_newer.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"`{args.exclude_newer}` is not a date", hints=["write `--exclude-newer 2024-03-01` or an RFC 3339 time"]
            ) from None
        if exclude_newer.tzinfo is None:
            exclude_newer = exclude_newer.replace(tzinfo=timezone.utc)
    overrides = []
    for path in args.override:
        overrides += parse_requirements_file(path).requirements
    def names(values, *, all_flag=False):
        if all_flag or ":all:" in values:
            return True
        return frozenset(canonicalize_name(v) for value in values for v in value.split(",") if v and v != ":none:")

    return ResolveOptions(
        no_build=names(list(args.no_build_package) + list(args.only_binary), all_flag=args.no_build),
        no_binary=names(args.no_binary),
        prerelease=prerelease,
        resolution=ResolutionMode(args.resolution) if args.resolution else ResolutionMode.HIGHEST,
        exclude_newer=exclude_newer,
        upgrade=args.upgrade,
        upgrade_packages=frozenset(canonicalize_name(n) for n in args.upgrade_package),
        constraints=tuple(reqs.constraints),
        overrides=tuple(overrides),
    )


def cmd_compile(args, console: Console) -> int:
    """``pyx pip compile``: resolve requirement files into pins with ``# via`` notes (and hashes)."""
    from pyx_server.engine.loop import run as run_engine
    import gc

    # One short resolution keeps hundreds of thousands of objects (index pages, metadata,
    # solver state) to its end; re-scanning them in the older generations was ~60 ms of a
    # ~0.45 s warm resolve. Young collections still run: they reclaim the short-lived cycles
    # (HTTP responses) that would otherwise double the peak memory of a cold resolve.
    gc.set_threshold(1000, 1000, 1000)
    from pyx_server.engine.envs.environment import find_environment
    from pyx_server.engine.errors import EnvironmentNotFound
    from pyx_server.engine.index.resolve import resolve_requirements

    reqs = _read_requirements(args, [], list(args.src) + [f"-c{c}" for c in args.constraint])
    cache = _cache(args)
    try:
        env = find_environment(python=args.python, system=args.system, cache=cache)
    except EnvironmentNotFound:
        env = find_environment(python=args.python, system=True, cache=cache)  # compiling changes nothing
    settings = _index_settings(args, reqs)
    options = _resolve_settings(args, reqs)
    started = time.perf_counter()
    from pyx_server.cli.progressbars import reporter_for

    python_version = None
    if args.python_version:
        from packaging.version import InvalidVersion, Version

        try:
            python_version = Version(args.python_version)
        except InvalidVersion:
            raise UsageError(f"`{args.python_version}` is not a Python version", hints=["write `--python-version 3.12`"]) from None
    from pyx_server.engine.install.builds import BuildSupport

    with reporter_for(console, enabled=console.progress and not args.no_progress) as reporter:
        build = BuildSupport(settings, cache, env.interpreter, reporter)
        result = run_engine(
            resolve_requirements(
                reqs.requirements, env.interpreter, index=settings, cache=cache, options=options,
                reporter=reporter, python_version=python_version, sdist_metadata=build.metadata,
            )
        )
    console.status(console.dim(f"Resolved {plural(len(result.resolution), 'package')} in {elapsed(time.perf_counter() - started)}"))
    if args.format == "json":
        import json

        text = json.dumps(
            [
                {
                    "name": p.name,
                    "version": str(p.version),
                    "url": p.candidate.url,
                    "via": [v.name or "-r" for v in p.via],
                    "hashes": sorted(f"sha256:{f.hashes['sha256']}" for f in result.all_files.get(name, ()) if "sha256" in f.hashes),
                }
                for name, p in result.resolution.items()
            ],
            indent=2,
        ) + "\n"
    else:
        text = _format_pins(args, result, reqs)
    if args.output_file:
        Path(args.output_file).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _format_pins(args, result, reqs) -> str:
    """requirements.txt of the resolution, in uv's layout (header, pins, ``# via``, hashes)."""
    sources = {}
    for spec in reqs.requirements:
        sources.setdefault(spec.name, spec.source.rsplit(":", 1)[0])
    lines = []
    if not args.no_header:
        from pyx_server.engine.config import redact_url

        shown = " ".join(redact_url(a) if "://" in a else a for a in args.argv)
        lines += ["# This file was autogenerated by pyx via the following command:", f"#    pyx {shown}"]
    for name, package in result.resolution.items():
        line = str(package)
        hashes = sorted({f.hashes["sha256"] for f in result.all_files.get(name, ()) if "sha256" in f.hashes})
        if args.generate_hashes and hashes:
            line += " \\\n" + " \\\n".join(f"    --hash=sha256:{h}" for h in hashes)
        lines.append(line)
        if not args.no_annotate:
            via = sorted({v.name for v in package.via if v.name} | ({f"-r {sources[name]}"} if name in sources and package.direct else set()))
            if len(via) == 1:
                lines.append(f"    # via {via[0]}")
            elif via:
                lines.append("    # via")
                lines += [f"    #   {v}" for v in via]
    return "\n".join(lines) + "\n"


def cmd_check(args, console: Console) -> int:
    from pyx_server.engine.install.check import check_environment

    cache = _cache(args)
    env = _environment(args, cache)
    installed = env.installed()
    problems = check_environment(installed, env.interpreter.markers)
    for problem in problems:
        console.data(str(problem))
    if problems:
        console.status(f"Found {plural(len(problems), 'incompatibility')}")
        return 1
    console.status(console.dim(f"Checked {plural(len(installed), 'package')}: no broken requirements"))
    return 0


def _result_json(result, env) -> dict:
    return {
        "environment": str(env.root),
        "dry_run": result.dry_run,
        "plan": result.plan.to_dict(),
        "installed": [c.__dict__ for c in result.installed],
        "uninstalled": [c.__dict__ for c in result.uninstalled],
        "skipped": result.skipped,
        "link_mode": result.link_mode,
        "warnings": [w.to_dict() for w in result.warnings],
        "timings": result.timings,
    }


def _render_install(result, console: Console, total: float) -> None:
    plan = result.plan
    for text in result.warnings:
        console.warn(text)
    for spec in result.skipped:
        console.detail(f"skipped {spec} (its marker excludes this interpreter)")
    if plan.is_noop:
        console.status(console.dim(f"Audited {plural(result.audited, 'package')} in {elapsed(total)}"))
        return
    t = result.timings
    if "resolve" in t:
        console.status(console.dim(f"Resolved {plural(len(plan.installs), 'package')} in {elapsed(t['resolve'])}"))
    if result.dry_run:
        console.status("Would download " + plural(len(plan.remote), "package") + ", link "
                       + plural(len(plan.cached), "cached package"))
        for p in plan.remote:
            console.status(f" {console.bold('+')} {p.source.name}=={p.source.version} (download)")
        for p in plan.cached:
            console.status(f" {console.bold('+')} {p.source.name}=={p.source.version} (cached)")
        for d in plan.reinstall:
            console.status(f" {console.bold('-')} {d.name}=={d.version} (replaced)")
        for d in plan.extraneous:
            console.status(f" {console.bold('-')} {d.name}=={d.version} (not in the requirements)")
        console.status("Dry run: nothing was changed")
        return
    if result.link_mode:
        console.detail(f"link mode: {result.link_mode}")
    if "prepare" in t:
        console.status(console.dim(f"Prepared {plural(len(plan.remote), 'package')} in {elapsed(t['prepare'])}"))
    if result.uninstalled:
        console.status(console.dim(f"Uninstalled {plural(len(result.uninstalled), 'package')} in {elapsed(t.get('uninstall', 0))}"))
    if result.installed:
        console.status(console.dim(f"Installed {plural(len(result.installed), 'package')} in {elapsed(t.get('install', 0))}"))
    before = {c.name: c.version for c in result.uninstalled}
    after = {c.name: c.version for c in result.installed}
    for name in sorted(set(before) | set(after)):
        if name in before and before[name] != after.get(name):
            console.status(f" {console._style('-', '31')} {name}=={before[name]}")
        if name in after:
            sign = "~" if before.get(name) == after[name] else "+"
            console.status(f" {console._style(sign, '32')} {name}=={after[name]}")


def cmd_venv(args, console: Console) -> int:
    from pyx_server.engine.envs.interpreter import find_python_on_path, query_interpreter
    from pyx_server.engine.envs.venv import create_venv

    started = time.perf_counter()
    cache = _cache(args)
    base = query_interpreter(find_python_on_path(args.python), cache)
    path = Path(args.path).absolute()
    env = create_venv(
        path,
        base,
        prompt=args.prompt,
        system_site_packages=args.system_site_packages,
        allow_existing=args.allow_existing,
        relocatable=args.relocatable,
        cache=cache,
    )
    version = ".".join(map(str, base.version))
    console.status(f"Using Python {version} interpreter at: {base.sys_executable}")
    console.status(f"Created virtual environment at: {path} in {elapsed(time.perf_counter() - started)}")
    if args.seed:
        from pyx_server.engine.loop import run as run_engine

        from pyx_server.engine.install.operations import seed

        result = run_engine(seed(env, index=_index_settings(args), cache=cache))
        for change in result.installed:
            console.status(f" + {change.name}=={change.version}")
    console.status(f"Activate with: source {path / 'bin' / 'activate'}")
    return 0


def cmd_uninstall(args, console: Console) -> int:
    from pyx_server.engine.install.operations import uninstall

    reqs = _read_requirements(args, args.packages, args.requirement)
    names = [spec.name for spec in reqs.requirements]
    if not names:
        raise UsageError("name the packages to uninstall, or pass `-r FILE`")
    cache = _cache(args)
    env = _environment(args, cache)
    started = time.perf_counter()
    result = uninstall(names, env, dry_run=args.dry_run)
    for name in result.missing:
        console.warn(f"skipping `{name}`: it is not installed")
    if result.uninstalled:
        verb = "Would uninstall" if args.dry_run else "Uninstalled"
        console.status(console.dim(f"{verb} {plural(len(result.uninstalled), 'package')} in {elapsed(time.perf_counter() - started)}"))
        for c in result.uninstalled:
            console.status(f" - {c.name}=={c.version}")
    return 0


def cmd_list(args, console: Console, fmt: str) -> int:
    cache = _cache(args)
    env = _environment(args, cache)
    dists = sorted(env.installed().values(), key=lambda d: d.name)
    if fmt == "json":
        import json

        console.data(json.dumps([{"name": d.display_name, "version": str(d.version)} for d in dists]))
    elif fmt == "freeze":
        for d in dists:
            direct = d.direct_url
            if direct and direct.get("url") and "dir_info" not in direct:
                console.data(f"{d.display_name} @ {direct['url']}")
            else:
                console.data(f"{d.display_name}=={d.version}")
    else:
        if not dists:
            return 0
        width = max(len("Package"), *(len(d.display_name) for d in dists))
        vwidth = max(len("Version"), *(len(str(d.version)) for d in dists))
        console.data(f"{'Package':<{width}} {'Version':<{vwidth}}")
        console.data(f"{'-' * width} {'-' * vwidth}")
        for d in dists:
            console.data(f"{d.display_name:<{width}} {str(d.version):<{vwidth}}")
    return 0


def cmd_show(args, console: Console) -> int:
    from email.parser import BytesHeaderParser

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    cache = _cache(args)
    env = _environment(args, cache)
    installed = env.installed()
    missing = []
    blocks = []
    required_by: dict[str, list[str]] = {}
    metas = {}
    for name, dist in installed.items():
        meta_path = dist.dist_info / ("METADATA" if dist.dist_info.suffix == ".dist-info" else "PKG-INFO")
        try:
            meta = BytesHeaderParser().parsebytes(meta_path.read_bytes())
        except OSError:
            continue
        metas[name] = meta
        for raw in meta.get_all("Requires-Dist") or []:
            try:
                req = Requirement(raw)
            except Exception:
                continue
            if req.marker is None or "extra" not in str(req.marker):
                required_by.setdefault(canonicalize_name(req.name), []).append(dist.display_name)
    for raw in args.packages:
        name = canonicalize_name(raw)
        dist = installed.get(name)
        if dist is None or name not in metas:
            missing.append(raw)
            continue
        meta = metas[name]
        requires = []
        for r in meta.get_all("Requires-Dist") or []:
            try:
                req = Requirement(r)
            except Exception:
                continue
            if req.marker is None or "extra" not in str(req.marker):
                requires.append(req.name)
        lines = [
            f"Name: {dist.display_name}",
            f"Version: {dist.version}",
            f"Summary: {meta.get('Summary', '')}",
            f"Home-page: {meta.get('Home-page', '')}",
            f"Author: {meta.get('Author', '') or meta.get('Author-email', '')}",
            f"License: {meta.get('License-Expression', '') or meta.get('License', '')}",
            f"Location: {dist.dist_info.parent}",
            f"Installer: {dist.installer or ''}",
            f"Requires: {', '.join(sorted(set(requires)))}",
            f"Required-by: {', '.join(sorted(required_by.get(name, [])))}",
        ]
        blocks.append("\n".join(lines))
    if blocks:
        console.data("\n---\n".join(blocks))
    for raw in missing:
        console.warn(f"package `{raw}` is not installed")
    return 1 if missing and not blocks else 0


def cmd_cache(args, console: Console) -> int:
    cache = _cache(args)
    if args.cache_command == "dir":
        console.data(str(cache.root))
        return 0
    if args.cache_command == "clean":
        if not args.package:
            removed = cache.clean()
            console.status(f"Cleaned {plural(removed, 'file')} from {cache.root}")
            return 0
        for name in args.package:
            removed = cache.clean(name)
            if removed:
                console.status(f"Removed {plural(removed, 'entry')} for `{name}`")
            else:
                console.status(f"No cache entries found for `{name}`")
        return 0
    if args.cache_command == "prune":
        from pyx_server.engine.envs.store import gc

        removed = cache.prune()
        environments = gc()
        console.status(f"Pruned {plural(len(removed), 'entry')}"
                       + (f" and {plural(len(environments), 'unused environment')}" if environments else ""))
        return 0
    console.status("usage: pyx cache {dir,clean,prune}")
    return EXIT_ERROR


class _Helpers:
    """What the declarative verbs (``cli_declared``) share with this module."""

    cache = staticmethod(_cache)
    index_settings = staticmethod(_index_settings)
    plural = staticmethod(plural)
    elapsed = staticmethod(elapsed)
    render_install = staticmethod(_render_install)


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
        sub = args.pip_command
        if sub == "sync":
            return cmd_pip_install(args, console, exact=True)
        if sub == "install":
            return cmd_pip_install(args, console, exact=False)
        if sub == "uninstall":
            return cmd_uninstall(args, console)
        if sub == "compile":
            return cmd_compile(args, console)
        if sub == "check":
            return cmd_check(args, console)
        if sub == "list":
            return cmd_list(args, console, args.format)
        if sub == "freeze":
            return cmd_list(args, console, "freeze")
        if sub == "show":
            return cmd_show(args, console)
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
