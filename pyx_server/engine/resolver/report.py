"""Turns a PubGrub derivation tree into "Because … we can conclude that …" text.

The tree is data (``pubgrub.Incompatibility`` with causes); this module is its one formatter.
It follows the Rust ``pubgrub`` crate's ``DefaultStringReporter`` and uv's wording:

* a derived incompatibility whose causes are both external is one sentence ("Because A and B,
  we can conclude that C."); a chain of derivations that each add one external fact reads as
  one paragraph of "And because …" lines (linear chains collapse into one sentence each);
* an incompatibility used twice is explained once and numbered ("… cannot be used. (1)"),
  later steps refer to it ("And because we know from (1) that …");
* the virtual packages of extras (``a[x]==1`` depends on ``a==1``) are dropped from the text;
* version sets print compactly; the words of every fact, term and version set are chosen in
  ``phrases``, which this module strings together.
"""

from __future__ import annotations

import sys

from pyx_server.engine.resolver.dependencies import ROOT_PKG, Pkg
from pyx_server.engine.resolver.phrases import Formatter, ReportContext, Unavailability, python_range
from pyx_server.engine.resolver.pubgrub import Incompatibility

__all__ = ["ReportContext", "Unavailability", "explain"]


# -- the derivation tree as a report ------------------------------------------------------------


class _Node:
    """A step of the tree as reported: an incompatibility and its (reported) causes."""

    __slots__ = ("incompatibility", "terms", "cause1", "cause2")

    def __init__(self, incompatibility: Incompatibility, cause1: _Node | None = None, cause2: _Node | None = None):
        self.incompatibility = incompatibility
        self.terms = incompatibility.terms
        self.cause1 = cause1
        self.cause2 = cause2

    @property
    def external(self) -> bool:
        return self.cause1 is None


def _is_proxy(node: _Node) -> bool:
    """``a[x]==1 depends on a==1``: the edge that ties an extra to its package."""
    if not node.external:
        return False
    dependency = node.incompatibility.dependency()
    if dependency is None:
        return False
    dependent, target, _ = dependency
    return (
        isinstance(dependent, Pkg)
        and dependent.extra is not None
        and isinstance(target, Pkg)
        and target.extra is None
        and target.name == dependent.name
    )


def _build(incompatibility: Incompatibility, collapse: bool) -> _Node | None:
    """The tree as reported (extras' proxy steps dropped when ``collapse``), built without
    recursion: a walk back through thousands of releases makes a tree thousands deep."""
    memo: dict[int, _Node | None] = {}
    stack: list[tuple[Incompatibility, bool]] = [(incompatibility, False)]
    while stack:
        inc, expanded = stack.pop()
        key = id(inc)
        if key in memo:
            continue
        if not inc.is_derived:
            memo[key] = _Node(inc)
            continue
        assert inc.cause1 is not None and inc.cause2 is not None
        if not expanded:
            stack.append((inc, True))
            stack.extend((cause, False) for cause in (inc.cause2, inc.cause1) if id(cause) not in memo)
            continue
        kids = [memo[id(inc.cause1)], memo[id(inc.cause2)]]
        if collapse:
            kids = [k for k in kids if k is not None and not _is_proxy(k)]
        else:
            kids = [k for k in kids if k is not None]
        if len(kids) == 2:
            memo[key] = _Node(inc, kids[0], kids[1])
        elif len(kids) == 1:
            memo[key] = kids[0]
        else:
            memo[key] = None
    return memo[id(incompatibility)]


class _Writer:
    def __init__(self, formatter: Formatter, root: _Node) -> None:
        self.f = formatter
        self.lines: list[str] = []
        self.refs: dict[int, int] = {}
        self.count = 0
        self.shared = self._shared(root)

    @staticmethod
    def _shared(root: _Node) -> set[int]:
        seen: dict[int, int] = {}
        stack = [root]
        while stack:
            node = stack.pop()
            if node.external:
                continue
            key = id(node)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1:
                assert node.cause1 is not None and node.cause2 is not None
                stack.extend((node.cause2, node.cause1))
        return {k for k, n in seen.items() if n > 1}

    def add_ref(self) -> int:
        self.count += 1
        self.lines[-1] = f"{self.lines[-1]} ({self.count})"
        return self.count

    def build(self, node: _Node) -> None:
        self.helper(node)
        key = id(node)
        if key in self.shared and key not in self.refs:
            self.refs[key] = self.add_ref()

    def helper(self, node: _Node) -> None:
        c1, c2 = node.cause1, node.cause2
        assert c1 is not None and c2 is not None
        f = self.f
        conclusion = f.terms(node.terms)
        links, base = self.chain(node)
        if len(links) >= _CHAIN_SUMMARY:
            self.summarize(links, base, conclusion)
            return
        if c1.external and c2.external:
            self.lines.append(
                f"Because {f.both_external(c1.incompatibility, c2.incompatibility)}, "
                f"we can conclude that {conclusion}."
            )
        elif c2.external:
            self.one_each(c1, c2, conclusion)
        elif c1.external:
            self.one_each(c2, c1, conclusion)
        else:
            r1, r2 = self.refs.get(id(c1)), self.refs.get(id(c2))
            if r1 is not None and r2 is not None:
                self.lines.append(
                    f"Because we know from ({r1}) that {f.terms(c1.terms)} and we know from ({r2}) that "
                    f"{f.terms(c2.terms)}, we can conclude that {conclusion}."
                )
            elif r1 is not None:
                self.build(c2)
                self.lines.append(
                    f"And because we know from ({r1}) that {f.terms(c1.terms)}, we can conclude that {conclusion}."
                )
            elif r2 is not None:
                self.build(c1)
                self.lines.append(
                    f"And because we know from ({r2}) that {f.terms(c2.terms)}, we can conclude that {conclusion}."
                )
            elif id(c1) in self.shared:
                self.build(c1)
                self.lines.append("")
                self.build(node)
            elif id(c2) in self.shared:
                self.build(c2)
                self.lines.append("")
                self.build(node)
            else:
                # explain the simpler side first, then the other, then combine
                first, second = (c1, c2) if _size(c1) <= _size(c2) else (c2, c1)
                self.build(first)
                ref = self.add_ref()
                self.lines.append("")
                self.build(second)
                self.lines.append(
                    f"And because we know from ({ref}) that {f.terms(first.terms)}, "
                    f"we can conclude that {conclusion}."
                )

    def chain(self, node: _Node) -> tuple[list[_Node], _Node | None]:
        """The run of steps below ``node`` that each add one dependency of the same package on
        the same package (a walk back through many releases), and what the run starts from."""
        links: list[_Node] = []
        key: tuple[str, Pkg] | None = None
        current = node
        while not current.external:
            if current is not node and (id(current) in self.shared or id(current) in self.refs):
                break
            c1, c2 = current.cause1, current.cause2
            assert c1 is not None and c2 is not None
            k1, k2 = _dependency_key(c1), _dependency_key(c2)
            if c2.external and k2 is not None and key in (None, k2):
                external, below, key = c2, c1, k2
            elif c1.external and k1 is not None and key in (None, k1):
                external, below, key = c1, c2, k1
            else:
                break
            links.append(external)
            current = below
        if current.external and key is not None and _dependency_key(current) == key:
            links.append(current)
            return links, None
        return links, current

    def summarize(self, links: list[_Node], base: _Node | None, conclusion: str) -> None:
        """One sentence for a long run of similar dependencies: the first two, a count, the last."""
        f = self.f
        ordered = sorted(links, key=lambda n: next(iter(n.terms.values())).set.segments[:1])
        package = next(iter(ordered[0].terms))
        first, second, last = (f.external(n.incompatibility) for n in (ordered[0], ordered[1], ordered[-1]))
        summary = f"{first}, {second}, and so on for {len(ordered) - 3} more versions of {package}, and {last}"
        if base is None:
            self.lines.append(f"Because {summary}, we can conclude that {conclusion}.")
        elif base.external:
            self.lines.append(f"Because {f.external(base.incompatibility)} and {summary}, we can conclude that {conclusion}.")
        elif id(base) in self.refs:
            self.lines.append(
                f"Because we know from ({self.refs[id(base)]}) that {f.terms(base.terms)} and {summary}, "
                f"we can conclude that {conclusion}."
            )
        else:
            self.build(base)
            self.lines.append(f"And because {summary}, we can conclude that {conclusion}.")

    def one_each(self, derived: _Node, external: _Node, conclusion: str) -> None:
        f = self.f
        ref = self.refs.get(id(derived))
        python = python_range(derived.terms)
        if ref is not None:
            self.lines.append(
                f"Because we know from ({ref}) that {f.terms(derived.terms)} and "
                f"{f.external(external.incompatibility, python)}, we can conclude that {conclusion}."
            )
            return
        d1, d2 = derived.cause1, derived.cause2
        assert d1 is not None and d2 is not None
        if id(derived) not in self.shared:
            # collapse a linear chain: "And because <prior fact> and <this fact>, …"
            for prior, fact in ((d1, d2), (d2, d1)):
                if fact.external and not prior.external:
                    self.build(prior)
                    python = python or python_range(prior.terms)
                    self.lines.append(
                        f"And because {f.both_external(fact.incompatibility, external.incompatibility, python)}, "
                        f"we can conclude that {conclusion}."
                    )
                    return
        self.build(derived)
        self.lines.append(
            f"And because {f.external(external.incompatibility, python)}, we can conclude that {conclusion}."
        )


#: a run of this many similar steps is told in one sentence
_CHAIN_SUMMARY = 5


def _dependency_key(node: _Node) -> tuple[str, Pkg] | None:
    """``(dependent name, dependency)`` of a dependency fact between two real packages."""
    if not node.external:
        return None
    dependency = node.incompatibility.dependency()
    if dependency is None:
        return None
    dependent, target, required = dependency
    if dependent == ROOT_PKG or not required or not isinstance(dependent, Pkg) or not isinstance(target, Pkg):
        return None
    return dependent.name, target


def _size(node: _Node) -> int:
    """How many external facts a step rests on (counting shared steps once per use)."""
    total, stack = 0, [node]
    while stack:
        current = stack.pop()
        if current.external:
            total += 1
        else:
            assert current.cause1 is not None and current.cause2 is not None
            stack.extend((current.cause1, current.cause2))
        if total > 10_000:  # only used to order two branches: a rough size is enough
            break
    return total


def explain(incompatibility: Incompatibility, context: ReportContext) -> str:
    """The explanation of why the root incompatibility holds, as lines of text."""
    root = _build(incompatibility, collapse=True)
    if root is None or _is_proxy(root):
        root = _build(incompatibility, collapse=False)
    assert root is not None
    formatter = Formatter(context)
    if root.external:
        text = formatter.external(root.incompatibility)
        conclusion = formatter.terms(incompatibility.terms)
        return f"Because {text}, we can conclude that {conclusion}."
    writer = _Writer(formatter, root)
    # the writer recurses once per reported step that cannot be summarized
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        writer.build(root)
    finally:
        sys.setrecursionlimit(limit)
    return "\n".join(writer.lines)
