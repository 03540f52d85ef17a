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
from pyx_server.engine.resolver.report import ReportContext, Unavailability, explain, hints

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
        """The derivation as JSON-ready data: each step's terms, kind, reason and causes."""
        numbers: dict[int, int] = {}
        nodes: dict[int, dict[str, Any]] = {}
        order: list[Incompatibility] = []
        stack = [self.derivation]
        while stack:  # number the steps in pre-order, without recursion (trees can be deep)
            inc = stack.pop()
            if id(inc) in numbers:
                continue
            numbers[id(inc)] = len(numbers) + 1
            order.append(inc)
            if inc.cause1 is not None and inc.cause2 is not None:
                stack.extend((inc.cause2, inc.cause1))
        for inc in order:
            out: dict[str, Any] = {
                "id": numbers[id(inc)],
                "kind": inc.kind,
                "terms": [
                    {"package": _package(p), "positive": t.positive, "versions": str(t.set)}
                    for p, t in inc.terms.items()
                ],
            }
            if isinstance(inc.reason, Unavailability):
                out["reason"] = inc.reason.singular
            elif inc.kind == "dependency" and inc.reason is not None:
                dependency, required, _ = inc.reason
                out["dependency"] = {"package": _package(dependency), "versions": str(required)}
            nodes[id(inc)] = out
        written: set[int] = set()

        def reference(inc: Incompatibility) -> dict[str, Any]:
            # a step used twice is written once; later uses say {"ref": <its id>}
            if id(inc) in written:
                return {"ref": numbers[id(inc)]}
            written.add(id(inc))
            return nodes[id(inc)]

        root = reference(self.derivation)
        stack = [self.derivation]
        while stack:
            inc = stack.pop()
            if inc.cause1 is not None and inc.cause2 is not None and "causes" not in nodes[id(inc)]:
                nodes[id(inc)]["causes"] = [reference(inc.cause1), reference(inc.cause2)]
                stack.extend(c for c in (inc.cause2, inc.cause1) if "ref" not in nodes[id(c)])
        return root

    def to_dict(self) -> dict[str, Any]:
        """The base error form plus ``report`` (text) and ``derivation`` (the tree as data)."""
        data = super().to_dict()
        data["report"] = self._report
        data["derivation"] = self.tree()
        return data


def _package(package: object) -> str:
    return str(package) if isinstance(package, Pkg) else repr(package)
