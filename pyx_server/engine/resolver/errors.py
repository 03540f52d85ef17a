"""The resolver's failure: ``ResolutionImpossible``, which keeps the derivation tree as data.

The tree (incompatibilities and their causes) stays on the exception; ``report()`` is its text
(made once, by ``report.py``), ``hints`` what the user could change, and ``to_dict()`` carries
both the text and the tree for ``--format json`` and the REST API. Fronts render it; none of
them parses the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyx_server.engine.errors import PyxError
from pyx_server.engine.resolver.dependencies import Pkg
from pyx_server.engine.resolver.pubgrub import Incompatibility
from pyx_server.engine.resolver.ranges import VersionSet
from pyx_server.engine.resolver.hints import hints
from pyx_server.engine.resolver.report import ReportContext, Unavailability, explain

__all__ = ["ResolutionImpossible"]


class ResolutionImpossible(PyxError):
    """No set of versions satisfies the requirements; ``derivation`` says why, as data."""

    code = "no-solution"

    def __init__(self, derivation: Incompatibility, context: ReportContext, requirements: Sequence[str]) -> None:
        self.derivation = derivation
        self.report_context = context
        self._report = explain(derivation, context)
        shown = ", ".join(f"`{r}`" for r in requirements[:5])
        if len(requirements) > 5:
            shown += f" and {len(requirements) - 5} more"
        message = f"No solution found when resolving dependencies for {shown}:\n{self._report}"
        super().__init__(
            message,
            context={"requirements": ", ".join(requirements)},
            hints=hints(derivation, context),
        )

    def report(self) -> str:
        """The explanation alone ("Because … we can conclude that …")."""
        return self._report

    def tree(self) -> dict[str, Any]:
        """The derivation as JSON-ready data: ``{"root": id, "steps": [...]}``.

        Each step has an ``id``, its ``kind`` (``derived``, ``dependency``, ``no-versions``,
        ``unavailable``, ``constraint``, ``root``), its ``terms``, and either ``causes`` (the ids
        of the two steps it was derived from) or its external facts (``dependency``,
        ``reason``). Steps are listed root first; a step used twice is listed once. The list is
        flat so that a walk back through thousands of releases stays shallow data.
        """
        numbers: dict[int, int] = {}
        order: list[Incompatibility] = []
        stack = [self.derivation]
        while stack:  # pre-order, without recursion
            inc = stack.pop()
            if id(inc) in numbers:
                continue
            numbers[id(inc)] = len(numbers) + 1
            order.append(inc)
            if inc.cause1 is not None and inc.cause2 is not None:
                stack.extend((inc.cause2, inc.cause1))
        steps = []
        for inc in order:
            step: dict[str, Any] = {
                "id": numbers[id(inc)],
                "kind": inc.kind,
                "terms": [
                    {"package": _package(p), "positive": t.positive, "versions": _versions(t.set)}
                    for p, t in inc.terms.items()
                ],
            }
            if inc.cause1 is not None and inc.cause2 is not None:
                step["causes"] = [numbers[id(inc.cause1)], numbers[id(inc.cause2)]]
            elif isinstance(inc.reason, Unavailability):
                step["reason"] = inc.reason.singular
            elif inc.kind == "dependency" and inc.reason is not None:
                dependency, required, _ = inc.reason
                step["dependency"] = {"package": _package(dependency), "versions": _versions(required)}
            steps.append(step)
        return {"root": numbers[id(self.derivation)], "steps": steps}

    def to_dict(self) -> dict[str, Any]:
        """The base error form plus ``report`` (text) and ``derivation`` (the tree as data)."""
        data = super().to_dict()
        data["report"] = self._report
        data["derivation"] = self.tree()
        return data


def _versions(versions: VersionSet) -> str:
    """A set as specifier text; a union of very many intervals (a long walk back) by its ends."""
    segments = versions.segments
    if len(segments) <= _MAX_WRITTEN:
        return str(versions)
    first = str(VersionSet(segments[:1]))
    last = str(VersionSet(segments[-1:]))
    return f"{first} || … || {last} ({len(segments)} intervals)"


_MAX_WRITTEN = 40


def _package(package: object) -> str:
    return str(package) if isinstance(package, Pkg) else repr(package)
