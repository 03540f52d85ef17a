"""The `pyx pip` verbs: install, sync, uninstall, compile, check, list, freeze, show.

Each reads its flags, calls the use case in ``engine.api`` (``pip``, ``compile``,
``installed``) and renders the result: status on stderr, data (``list``, ``freeze``,
``show``, compiled pins) on stdout. Imports stay inside the functions: a warm ``pip sync``
loads nothing it does not use.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyx_server.cli.flags import context
from pyx_server.cli.render import as_json, elapsed, plural, render_install, warn


def _progress(args, console, *, lazy: bool = False):
    from pyx_server.cli.progressbars import reporter_for

    return reporter_for(console, enabled=console.progress and not args.no_progress, lazy=lazy)


def _resolution_flags(args) -> dict:
    """The resolution flags of ``pip install`` and ``pip compile``, as the use cases take them."""
    return {
        "prerelease": args.prerelease,
        "resolution": args.resolution,
        "exclude_newer": args.exclude_newer,
        "upgrade": args.upgrade,
        "upgrade_packages": args.upgrade_package,
        "overrides": args.override,
        "no_build": args.no_build,
        "no_build_packages": [*args.no_build_package, *args.only_binary],
        "no_binary": args.no_binary,
    }


def cmd_pip_install(args, console, *, exact: bool) -> int:
    """``pyx pip install`` and (``exact``) ``pyx pip sync``."""
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.pip import pip_install

    flags = {} if exact else {
        "requirements": args.packages, "editables": args.editable, "no_deps": args.no_deps, **_resolution_flags(args)
    }
    # lazy: a warm sync that finds everything in place reports nothing, and never loads rich
    with _progress(args, console, lazy=True) as reporter:
        result = run(pip_install(
            context(args, reporter=reporter),
            requirement_files=[*args.requirement, *(args.src if exact else ())],
            constraints=args.constraint,
            exact=exact,
            dry_run=args.dry_run,
            reinstall=args.reinstall,
            reinstall_packages=args.reinstall_package,
            require_hashes=args.require_hashes,
            link_mode=args.link_mode,
            refresh=args.refresh,
            break_system_packages=args.break_system_packages,
            pre=args.pre,
            **flags,
        ))
    console.detail(f"environment: {result.environment}")
    if args.format == "json":
        console.data(as_json(result))
        return 0
    render_install(result, console, result.seconds)
    return 0


def cmd_uninstall(args, console) -> int:
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.pip import pip_uninstall

    with _progress(args, console) as reporter:
        result = run(pip_uninstall(context(args, reporter=reporter), args.packages,
                                   requirement_files=args.requirement, dry_run=args.dry_run))
    for warning in result.warnings:
        warn(console, warning)
    if result.uninstalled:
        verb = "Would uninstall" if result.dry_run else "Uninstalled"
        console.status(console.dim(f"{verb} {plural(len(result.uninstalled), 'package')} in {elapsed(result.seconds)}"))
        for c in result.uninstalled:
            console.status(f" - {c.name}=={c.version}")
    return 0


def cmd_compile(args, console) -> int:
    """``pyx pip compile``: resolve requirement files into pins with ``# via`` notes (and hashes)."""
    import gc

    # One short resolution keeps hundreds of thousands of objects (index pages, metadata,
    # solver state) to its end; re-scanning them in the older generations was ~60 ms of a
    # ~0.45 s warm resolve. Young collections still run: they reclaim the short-lived cycles
    # (HTTP responses) that would otherwise double the peak memory of a cold resolve.
    # (A setting of this process: the CLI's to make, not the engine's.)
    gc.set_threshold(1000, 1000, 1000)
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.compile import format_requirements, pip_compile

    with _progress(args, console) as reporter:
        result = run(pip_compile(context(args, reporter=reporter), args.src, constraints=args.constraint, pre=args.pre,
                                 python_version=args.python_version, **_resolution_flags(args)))
    console.status(console.dim(f"Resolved {plural(len(result.packages), 'package')} in {elapsed(result.seconds)}"))
    for warning in result.warnings:
        warn(console, warning)
    if args.format == "json":
        import json

        text = json.dumps([p.to_dict() for p in result.packages], indent=2) + "\n"
    else:
        text = format_requirements(result, command=None if args.no_header else args.argv,
                                   annotate=not args.no_annotate, generate_hashes=args.generate_hashes)
    if args.output_file:
        Path(args.output_file).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args, console) -> int:
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.installed import pip_check

    result = run(pip_check(context(args)))
    for problem in result.problems:
        console.data(problem.message)
    if result.problems:
        console.status(f"Found {plural(len(result.problems), 'incompatibility')}")
        return 1
    console.status(console.dim(f"Checked {plural(result.checked, 'package')}: no broken requirements"))
    return 0


def cmd_list(args, console, fmt: str) -> int:
    """``pyx pip list`` (columns, json, freeze) and ``pyx pip freeze``."""
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.installed import pip_freeze, pip_list

    if fmt == "freeze":
        for line in run(pip_freeze(context(args))).requirements:
            console.data(line)
        return 0
    packages = run(pip_list(context(args))).packages
    if fmt == "json":
        import json

        console.data(json.dumps([{"name": p.name, "version": p.version} for p in packages]))
    elif packages:
        width = max(len("Package"), *(len(p.name) for p in packages))
        vwidth = max(len("Version"), *(len(p.version) for p in packages))
        console.data(f"{'Package':<{width}} {'Version':<{vwidth}}")
        console.data(f"{'-' * width} {'-' * vwidth}")
        for p in packages:
            console.data(f"{p.name:<{width}} {p.version:<{vwidth}}")
    return 0


def cmd_show(args, console) -> int:
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.installed import pip_show

    result = run(pip_show(context(args), args.packages))
    blocks = [
        "\n".join([
            f"Name: {p.name}",
            f"Version: {p.version}",
            f"Summary: {p.summary}",
            f"Home-page: {p.home_page}",
            f"Author: {p.author}",
            f"License: {p.license}",
            f"Location: {p.location}",
            f"Installer: {p.installer}",
            f"Requires: {', '.join(p.requires)}",
            f"Required-by: {', '.join(p.required_by)}",
        ])
        for p in result.packages
    ]
    if blocks:
        console.data("\n---\n".join(blocks))
    for warning in result.warnings:
        warn(console, warning)
    return 1 if result.missing and not result.packages else 0
