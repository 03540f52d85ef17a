"""Turns a PubGrub derivation tree into "Because … we can conclude that …" text.

The tree is data (``pubgrub.Incompatibility`` with causes); this module is its one formatter.
It follows the Rust ``pubgrub`` crate's ``DefaultStringReporter`` and uv's wording:

* a derived incompatibility whose causes are both external is one sentence ("Because A and B,
  we can conclude that C."); a chain of derivations that each add one external fact reads as
  one paragraph of "And because …" lines (linear chains collapse into one sentence each);
* an incompatibility used twice is explained once and numbered ("… cannot be used. (1)"),
  later steps refer to it ("And because we know from (1) that …");
* the virtual packages of extras (``a[x]==1`` depends on ``a==1``) are dropped from the text;
* version sets print compactly. A set of versions of a package is printed against the versions
  that exist (``a>=2`` rather than ``a>1.5.2,<3.dev0`` when 2.0 is the first after 1.5.2;
  ``all versions of a`` when it covers them all); a required range prints as it was written.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from packaging.version import Version

from pyx_server.engine.resolver.dependencies import PYTHON_PKG, ROOT_PKG, Pkg
from pyx_server.engine.resolver.pubgrub import (
    CONSTRAINT,
    DEPENDENCY,
    NO_VERSIONS,
    ROOT,
    UNAVAILABLE,
    Incompatibility,
    Term,
)
from pyx_server.engine.resolver.ranges import VersionSet

if TYPE_CHECKING:
    from pyx_server.engine.resolver.candidates import PackageVersions

__all__ = ["ReportContext", "Unavailability", "explain"]


@dataclass(frozen=True)
class Unavailability:
    """Why listed versions (or a whole package) cannot be used.

    ``singular``/``plural`` complete "``a==1.0`` …" / "``a>=1`` …" ("was yanked" / "were
    yanked"); a package-level reason (``versions_level=False``) completes "``a`` …".
    """

    kind: str
    singular: str
    plural: str = ""
    versions_level: bool = True
    hint: str | None = None

    def text(self, plural: bool) -> str:
        if not plural:
            return self.singular
        return self.plural or _pluralize(self.singular)


def _pluralize(text: str) -> str:
    """``has no wheels`` → ``have no wheels`` (for reasons a provider words in the singular)."""
    for singular, plural in (("has ", "have "), ("is ", "are "), ("was ", "were "), ("does ", "do ")):
        if text.startswith(singular):
            return plural + text[len(singular) :]
    return text


@dataclass
class ReportContext:
    """What the formatter needs besides the tree: the target Python and the package listings."""

    python: Version
    packages: Mapping[str, PackageVersions] = field(default_factory=dict)
    exclude_newer: datetime | None = None

    def visible(self, package: Pkg) -> Sequence[Version] | None:
        listing = self.packages.get(package.name)
        return None if listing is None else listing.visible


# -- version sets as text --------------------------------------------------------------------


def _raw(package: Pkg, versions: VersionSet, joiner: str = " or ") -> str:
    """A required range, as written: ``b>=1,<2``, ``b`` for any version."""
    if versions.is_full():
        return str(package)
    if not versions:
        return f"{package} (no version)"
    return joiner.join(f"{package}{text}" for text in versions.specifier_strings())


def _runs(known: Sequence[Version], versions: VersionSet) -> list[tuple[int, int]]:
    """Runs ``[i, j]`` (inclusive) of consecutive known versions inside the set."""
    runs: list[tuple[int, int]] = []
    for index, version in enumerate(known):
        if version in versions:
            if runs and runs[-1][1] == index - 1:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
    return runs


def _run_text(package: Pkg, known: Sequence[Version], i: int, j: int, open_low: bool, open_high: bool) -> str:
    """A run of known versions: ``a==1.0`` for one, else bounds on the versions that exist
    (an end that reaches the first/last known version stays open when the set is open there)."""
    if i == j:
        return f"{package}=={known[i]}"
    clauses = []
    if not (i == 0 and open_low):
        clauses.append(f">={known[i]}")
    if not (j == len(known) - 1 and open_high):
        clauses.append(f"<={known[j]}")
    if not clauses:
        return f"all versions of {package}"
    return f"{package}{','.join(clauses)}"


class _Range:
    """A set of versions of one package, narrowed to the versions that exist when known."""

    def __init__(self, context: ReportContext, package: Pkg, versions: VersionSet) -> None:
        self.package = package
        self.versions = versions
        self.parts: list[str] = []
        self.all = False
        if package == ROOT_PKG:
            self.parts = ["your requirements"]
            return
        if package == PYTHON_PKG:
            self.parts = [_raw(package, versions)]
            return
        known = context.visible(package)
        runs = _runs(known, versions) if known else []
        if not runs:
            self.parts = [_raw(package, versions)] if not versions.is_full() else [f"all versions of {package}"]
            self.all = versions.is_full()
            return
        assert known is not None
        if len(known) == 1:
            # one version exists: name it rather than say "all versions"
            self.parts = [f"{package}=={known[0]}"]
            return
        if len(runs) == 1 and runs[0] == (0, len(known) - 1):
            self.parts = [f"all versions of {package}"]
            self.all = True
            return
        missing = [k for k in range(len(known)) if known[k] not in versions]
        if len(runs) == 2 and len(missing) == 1:
            self.parts = [f"{package}!={known[missing[0]]}"]
            return
        self.parts = [_run_text(package, known, i, j, True, True) for i, j in runs]

    @property
    def plural(self) -> bool:
        return self.all or len(self.parts) > 1

    def text(self, joiner: str = " and ") -> str:
        return _join(self.parts, joiner)


def _join(parts: Sequence[str], joiner: str = " and ") -> str:
    if len(parts) <= 1:
        return "".join(parts)
    if joiner.strip() in ("and", "or"):
        return ", ".join(parts[:-1]) + joiner + parts[-1]
    return joiner.join(parts)


def _available(context: ReportContext, package: Pkg, missing: VersionSet, python: VersionSet | None = None) -> str:
    """The sentence for "no version of ``package`` in ``missing``" (uv's wording).

    For Python the fact is "only the target version exists"; ``python`` is the range the
    neighbouring statement asks for, so the sentence can name it.
    """
    if package == PYTHON_PKG:
        if python is not None and context.python not in python:
            return f"the current Python version ({context.python}) does not satisfy {_raw(package, python)}"
        if context.python not in missing and missing.union(VersionSet.exact(context.python)).is_full():
            return f"the current Python version is {context.python}"
        return f"the current Python version ({context.python}) does not satisfy {_raw(package, missing)}"
    if missing.is_full():
        return f"there are no versions of {package}"
    exact = missing.singleton()
    known = context.visible(package)
    if exact is not None or not known:
        return f"there is no version of {_raw(package, missing)}"
    present = missing.complement()
    runs = _runs(known, present)
    if not runs:
        return f"there are no versions of {package}"
    segments = present.segments
    open_low = segments[0][0][2] == "min"
    open_high = segments[-1][1][2] == "max"
    parts = [_run_text(package, known, i, j, open_low, open_high) for i, j in runs]
    if len(parts) == 1:
        if parts[0].startswith("all versions of"):
            return f"there is no version of {_raw(package, missing)}"
        listing = context.packages.get(package.name)
        if listing is not None and len(listing.candidates) == 1 and listing.candidates[0].url:
            return f"only {parts[0]} is available (from {listing.candidates[0].url})"
        return f"only {parts[0]} is available"
    return f"only {_join(parts)} are available"


# -- sentences ---------------------------------------------------------------------------------


class _Formatter:
    def __init__(self, context: ReportContext) -> None:
        self.context = context

    def range(self, package: Pkg, versions: VersionSet) -> _Range:
        return _Range(self.context, package, versions)

    def required(self, package: Pkg, versions: VersionSet) -> str:
        """A required range: as written, unless a derivation made it a long union, which is
        then stated over the versions that exist (``b>=1.0,<=1.9`` for ten adjacent pins)."""
        texts = versions.specifier_strings()
        if len(texts) <= 2 or package in (ROOT_PKG, PYTHON_PKG):
            return _raw(package, versions)
        known = self.context.visible(package)
        runs = _runs(known, versions) if known else []
        if not runs:
            # no listing to narrow against: the ends and a count
            return f"one of {package}{texts[0]} … {package}{texts[-1]} ({len(texts)} ranges)"
        segments = versions.segments
        open_low = segments[0][0][2] == "min"
        open_high = segments[-1][1][2] == "max"
        parts = [_run_text(package, known, i, j, open_low, open_high) for i, j in runs]
        parts = [str(package) if p.startswith("all versions of") else p for p in parts]
        return _join(parts, " or ")

    def depends(self, package: Pkg, versions: VersionSet, deps: Sequence[tuple[Pkg, VersionSet]]) -> str:
        dependent = self.range(package, versions)
        verb = "depend on" if dependent.plural else "depends on"
        targets = " and ".join(self.required(d, r) for d, r in deps)
        return f"{dependent.text()} {verb} {targets}"

    def external(self, incompatibility: Incompatibility, python: VersionSet | None = None) -> str:
        kind = incompatibility.kind
        terms = incompatibility.terms
        if kind == ROOT:
            return "we are solving your requirements"
        if kind == NO_VERSIONS:
            (package, term), = terms.items()
            return _available(self.context, package, term.set, python)
        if kind == UNAVAILABLE:
            (package, term), = terms.items()
            reason: Unavailability = incompatibility.reason
            if not reason.versions_level:
                return f"{package} {reason.singular}"
            subject = self.range(package, term.set)
            return f"{subject.text()} {reason.text(subject.plural)}"
        if kind == CONSTRAINT:
            (package, term), = terms.items()
            return f"your constraints allow only {_raw(package, term.set.complement())}"
        if kind == DEPENDENCY:
            package = next(iter(terms))
            dependency, required, note = incompatibility.reason
            if not required:
                # requirements that no version satisfies together ("a==1.0 and a==2.0")
                written = list(note) if note else [_raw(dependency, required)]
                target = _join(written)
                if len(written) == 1:
                    target += ", which no version satisfies"
                elif len(written) == 2:
                    target = f"both {target}"
                if package == ROOT_PKG:
                    return f"you require {target}"
                subject = self.range(package, terms[package].set)
                verb = "depend on" if subject.plural else "depends on"
                return f"{subject.text()} {verb} {target}"
            if package == ROOT_PKG:
                return f"you require {_raw(dependency, required)}"
            return self.depends(package, terms[package].set, [(dependency, required)])
        return "an unknown reason"  # pragma: no cover

    def both_external(self, first: Incompatibility, second: Incompatibility, python: VersionSet | None = None) -> str:
        a, b = first.dependency(), second.dependency()
        if a and b and a[0] == b[0] and a[2] and b[2] and first.terms[a[0]].set == second.terms[b[0]].set:
            if a[0] == ROOT_PKG:
                return f"you require {_raw(a[1], a[2])} and {_raw(b[1], b[2])}"
            return self.depends(a[0], first.terms[a[0]].set, [(a[1], a[2]), (b[1], b[2])])
        python = _python_range(first.terms) or _python_range(second.terms) or python
        if a and b and a[0] == b[1] and a[0] != ROOT_PKG:
            # read a chain in order: "c depends on a and a depends on b"
            first, second = second, first
        if _is_python_fact(second) and not _is_python_fact(first):
            # "the current Python version (3.9) does not satisfy Python>=3.10 and a==2 depends on …"
            first, second = second, first
        return f"{self.external(first, python)} and {self.external(second, python)}"

    def terms(self, terms: Mapping[Pkg, Term]) -> str:
        items = sorted(terms.items(), key=lambda item: (item[0] != ROOT_PKG, item[0]))
        if not items:
            return "the requirements are unsatisfiable"
        if len(items) == 1:
            package, term = items[0]
            if package == ROOT_PKG:
                return "your requirements are unsatisfiable"
            if term.positive:
                return f"{self.range(package, term.set).text()} cannot be used"
            return f"{self.required(package, term.set)} must be used"
        if len(items) == 2:
            (p1, t1), (p2, t2) = items
            if t1.positive and not t2.positive:
                if p1 == ROOT_PKG:
                    return f"you require {self.required(p2, t2.set)}"
                return self.depends(p1, t1.set, [(p2, t2.set)])
            if t2.positive and not t1.positive:
                if p2 == ROOT_PKG:
                    return f"you require {self.required(p1, t1.set)}"
                return self.depends(p2, t2.set, [(p1, t1.set)])
        parts = []
        for package, term in items:
            if package == ROOT_PKG:
                parts.append("your requirements")
            elif term.positive:
                parts.append(self.range(package, term.set).text(" or "))
            else:
                single = term.set.singleton()
                if single is not None:
                    parts.append(f"{package}!={single}")
                else:
                    parts.append(self.range(package, term.set.complement()).text(" or "))
        return f"{_join(parts)} are incompatible"


def _python_range(terms: Mapping[Pkg, Term]) -> VersionSet | None:
    """The Python range a statement requires (its negative Python term), if any."""
    term = terms.get(PYTHON_PKG)
    return term.set if term is not None and not term.positive else None


def _is_python_fact(incompatibility: Incompatibility) -> bool:
    return incompatibility.kind == NO_VERSIONS and PYTHON_PKG in incompatibility.terms


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
    def __init__(self, formatter: _Formatter, root: _Node) -> None:
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
        python = _python_range(derived.terms)
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
            if d2.external and not d1.external:
                self.build(d1)
                python = python or _python_range(d1.terms)
                self.lines.append(
                    f"And because {f.both_external(d2.incompatibility, external.incompatibility, python)}, "
                    f"we can conclude that {conclusion}."
                )
                return
            if d1.external and not d2.external:
                self.build(d2)
                python = python or _python_range(d2.terms)
                self.lines.append(
                    f"And because {f.both_external(d1.incompatibility, external.incompatibility, python)}, "
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
    formatter = _Formatter(context)
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
