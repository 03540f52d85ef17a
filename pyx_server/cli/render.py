"""Text the CLI writes for the engine's results: durations, counts, an install's summary, warnings.

Pure rendering onto a ``Console`` (``cli.main``): the results are the engine's typed values
(``engine.api``), and nothing here decides anything.
"""

from __future__ import annotations


def elapsed(seconds: float) -> str:
    """``850ms``, ``1.25s``."""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def plural(n: int, word: str) -> str:
    """``1 package``, ``2 packages``, ``3 entries``."""
    if n == 1:
        return f"{n} {word}"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return f"{n} {word[:-1]}ies"
    return f"{n} {word}s"


def warn(console, warning) -> None:
    """A warning (a ``PyxWarning``, or plain text from an older stage) with its hints."""
    console.warn(getattr(warning, "message", warning))
    for hint in getattr(warning, "hints", ()):
        console.hint(hint)


def render_install(result, console, total: float) -> None:
    """An install's summary: resolved, prepared, (un)installed, and each package changed."""
    plan = result.plan
    for warning in result.warnings:
        warn(console, warning)
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



def as_json(result, **extra) -> str:
    """A result as ``--format json`` prints it: its ``to_dict()`` (plus ``extra`` keys), with
    warnings as their messages, the shape this command line's JSON has had since before
    warnings were typed (the typed form is the engine's ``to_dict``, for panels)."""
    import json

    data = {**result.to_dict(), **extra}
    if "warnings" in data:
        data["warnings"] = [w.message for w in result.warnings]
    return json.dumps(data, indent=2)
