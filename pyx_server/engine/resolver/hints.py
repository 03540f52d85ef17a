"""Hints for a failed resolution: what the user could change, read off the derivation's facts.

The explanation (``report.py``) says why there is no solution; hints say what to try: allow
pre-releases, loosen ``exclude-newer``, use a Python the package supports, pin a yanked release
exactly, check a package name or the index configuration (plus whatever hint the provider gave
with a ``NotFound``).
"""

from __future__ import annotations

from pyx_server.engine.resolver.candidates import HIDDEN_EXCLUDE_NEWER, HIDDEN_PRERELEASE
from pyx_server.engine.resolver.dependencies import PYTHON_PKG
from pyx_server.engine.resolver.pubgrub import DEPENDENCY, NO_VERSIONS, UNAVAILABLE, Incompatibility
from pyx_server.engine.resolver.phrases import RangeText, ReportContext, Unavailability, raw_range

__all__ = ["hints"]


def _externals(incompatibility: Incompatibility) -> list[Incompatibility]:
    """Every external fact the derivation rests on, each once, without recursion."""
    out: list[Incompatibility] = []
    seen: set[int] = set()
    stack = [incompatibility]
    while stack:
        inc = stack.pop()
        if id(inc) in seen:
            continue
        seen.add(id(inc))
        if inc.is_derived:
            assert inc.cause1 is not None and inc.cause2 is not None
            stack.extend((inc.cause2, inc.cause1))
        else:
            out.append(inc)
    return out


def hints(incompatibility: Incompatibility, context: ReportContext) -> list[str]:
    """What the user could change, read off the external facts of the tree."""
    out: list[str] = []
    python: dict[str, list[str]] = {}

    def add(text: str) -> None:
        if text not in out:
            out.append(text)

    for inc in _externals(incompatibility):
        if inc.kind == NO_VERSIONS:
            (package, term), = inc.terms.items()
            listing = context.packages.get(package.name)
            if package == PYTHON_PKG or listing is None:
                continue
            pre = listing.hidden_in(term.set, HIDDEN_PRERELEASE)
            if pre:
                add(
                    f"Pre-releases are available for `{package.name}` in the requested range "
                    f"(e.g., {pre[-1]}), but pre-releases weren't enabled (try: `--prerelease=allow`)"
                )
            newer = listing.hidden_in(term.set, HIDDEN_EXCLUDE_NEWER)
            if newer and context.exclude_newer is not None:
                add(
                    f"`{package.name}` was filtered by `exclude-newer` to only include packages uploaded "
                    f"before {context.exclude_newer.isoformat()} (e.g., {newer[-1]} is newer)"
                )
        elif inc.kind == DEPENDENCY:
            dependency = inc.dependency()
            if dependency is None or dependency[1] != PYTHON_PKG:
                continue
            package, _, required = dependency
            subject = RangeText(context, package, inc.terms[package].set).text()
            python.setdefault(package.name, []).append(f"`{subject}` requires {raw_range(PYTHON_PKG, required)}")
        elif inc.kind == UNAVAILABLE:
            (package, term), = inc.terms.items()
            reason: Unavailability = inc.reason
            if reason.hint:
                add(reason.hint)
            elif reason.kind == "yanked":
                known = context.visible(package) or []
                yanked = [v for v in known if v in term.set]
                example = f"`{package.name}=={yanked[-1]}`" if yanked else f"`{package.name}==<version>`"
                add(
                    f"Yanked versions of `{package.name}` are only used when required exactly: "
                    f"to use one anyway, require it with `==` (e.g., {example})"
                )
            elif reason.kind == "not-found":
                add(f"`{package.name}` was not found on the configured indexes: check the name, or the index URLs")
    for name, needs in python.items():
        add(
            f"Versions of `{name}` were skipped because they do not support the target Python "
            f"({context.python}): {'; '.join(needs)}. Use a newer Python, or allow older versions of `{name}`"
        )
    return out
