"""PubGrub's core: terms, incompatibilities, the partial solution, propagation and conflict resolution.

This is Natalie Weizenbaum's algorithm (Dart pub's ``doc/solver.md``) over ``VersionSet``s,
with the refinements of the Rust ``pubgrub`` crate:

* a conflict is resolved by *resolution* of incompatibilities: the learned incompatibility
  keeps, for the satisfier's package, the union of both terms (``prior_cause``);
* the dependency incompatibilities of consecutive versions that depend on the same range are
  merged (``a>=1,<3 depends on b>=2`` instead of one per version), which keeps propagation
  fast and explanations short;
* incompatibilities found contradicted at a decision level are skipped until backtracking
  undoes that level.

The core knows nothing of Python packaging: packages are opaque hashable keys, versions are
``packaging`` versions only because ``VersionSet`` is. ``solver.py`` drives it: it picks the next
package, asks the candidate policy for a version, and feeds dependencies in.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from packaging.version import Version

from pyx_server.engine.resolver.ranges import VersionSet

__all__ = [
    "CONSTRAINT",
    "DEPENDENCY",
    "DERIVED",
    "NO_VERSIONS",
    "ROOT",
    "UNAVAILABLE",
    "Incompatibility",
    "NoSolution",
    "State",
    "Term",
]

Package = Hashable

# kinds of incompatibility causes (external ones carry their own reason; derived ones two causes)
ROOT = "root"  # {not root}: the root package must be chosen
NO_VERSIONS = "no-versions"  # {p in S}: no version of p in S exists (or is usable)
UNAVAILABLE = "unavailable"  # {p in S}: those versions exist but cannot be used (reason)
DEPENDENCY = "dependency"  # {p in S, not d in D}: p in S depends on d in D
CONSTRAINT = "constraint"  # {p in not-C}: the user constrained p to C
DERIVED = "derived"  # learned from cause1 and cause2

_SATISFIED, _ALMOST, _CONTRADICTED, _INCONCLUSIVE = 0, 1, 2, 3


class Term:
    """A statement about one package: its version is in ``set`` (positive) or is not (negative).

    A negative term is also satisfied when the package is not selected at all.
    """

    __slots__ = ("positive", "set")

    def __init__(self, positive: bool, versions: VersionSet) -> None:
        self.positive = positive
        self.set = versions

    def negate(self) -> Term:
        return Term(not self.positive, self.set)

    def is_any(self) -> bool:
        """True for the term every assignment satisfies (``not ∅``)."""
        return not self.positive and not self.set

    def intersect(self, other: Term) -> Term:
        """Both statements at once."""
        if self.positive:
            if other.positive:
                return Term(True, self.set.intersection(other.set))
            return Term(True, self.set.difference(other.set))
        if other.positive:
            return Term(True, other.set.difference(self.set))
        return Term(False, self.set.union(other.set))

    def union(self, other: Term) -> Term:
        """Either statement."""
        if self.positive:
            if other.positive:
                return Term(True, self.set.union(other.set))
            return Term(False, other.set.difference(self.set))
        if other.positive:
            return Term(False, self.set.difference(other.set))
        return Term(False, self.set.intersection(other.set))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and self.positive == other.positive and self.set == other.set

    def __hash__(self) -> int:
        return hash((self.positive, self.set))

    def __repr__(self) -> str:
        return f"{'' if self.positive else 'not '}{self.set}"


def _relation(term: Term, acc: Term) -> int:
    """How the accumulated assignments ``acc`` of a package relate to ``term``."""
    t = term.set
    a = acc.set
    if term.positive:
        if acc.positive:
            if a.is_subset(t):
                return _SATISFIED
            if a.is_disjoint(t):
                return _CONTRADICTED
            return _INCONCLUSIVE
        return _CONTRADICTED if t.is_subset(a) else _INCONCLUSIVE
    if acc.positive:
        if a.is_disjoint(t):
            return _SATISFIED
        if a.is_subset(t):
            return _CONTRADICTED
        return _INCONCLUSIVE
    return _SATISFIED if t.is_subset(a) else _INCONCLUSIVE


def _satisfies(acc: Term, term: Term) -> bool:
    return _relation(term, acc) == _SATISFIED


class Incompatibility:
    """A set of terms that cannot all be true at once, and why we know it."""

    __slots__ = ("id", "terms", "kind", "reason", "cause1", "cause2")

    def __init__(
        self,
        terms: dict[Package, Term],
        kind: str,
        *,
        reason: Any = None,
        cause1: Incompatibility | None = None,
        cause2: Incompatibility | None = None,
    ) -> None:
        self.id = -1
        self.terms = terms
        self.kind = kind
        #: for external kinds: what the solver layer wants the report to say (opaque here)
        self.reason = reason
        self.cause1 = cause1
        self.cause2 = cause2

    @property
    def is_derived(self) -> bool:
        return self.kind == DERIVED

    def dependency(self) -> tuple[Package, Package, VersionSet] | None:
        """``(dependent, dependency, required versions)`` for a dependency incompatibility."""
        if self.kind != DEPENDENCY:
            return None
        dependent = next(iter(self.terms))
        dependency, required, _ = self.reason
        return dependent, dependency, required

    def __repr__(self) -> str:
        terms = ", ".join(f"{p}: {t!r}" for p, t in self.terms.items())
        return f"<Incompatibility #{self.id} {self.kind} {{{terms}}}>"


class NoSolution(Exception):
    """Raised by the core when the root's requirements cannot be satisfied."""

    def __init__(self, incompatibility: Incompatibility) -> None:
        super().__init__("no solution")
        self.incompatibility = incompatibility


class _Assignments:
    """The assignments of one package, oldest first, with their running intersection."""

    __slots__ = ("derivations", "decision", "term")

    def __init__(self) -> None:
        # (global index, decision level, cause, term, accumulated intersection up to here)
        self.derivations: list[tuple[int, int, Incompatibility, Term, Term]] = []
        # (global index, decision level, version, exact term)
        self.decision: tuple[int, int, Version, Term] | None = None
        self.term: Term | None = None


class State:
    """The solver state: every incompatibility known so far and the partial solution."""

    def __init__(self, root: Package, root_version: Version) -> None:
        self.root = root
        self.root_version = root_version
        self._by_package: dict[Package, list[Incompatibility]] = {}
        self._merged: dict[tuple[Package, Package], dict[VersionSet, Incompatibility]] = {}
        self._next_id = 0
        self._contradicted: dict[int, int] = {}
        # partial solution
        self._assigned: dict[Package, _Assignments] = {}
        self._pending: dict[Package, None] = {}
        self._level = 0
        self._counter = 0
        self._touched: list[list[Package]] = [[]]
        self.add(Incompatibility({root: Term(False, VersionSet.exact(root_version))}, ROOT))

    # -- incompatibilities --------------------------------------------------------------

    def add(self, incompatibility: Incompatibility) -> Incompatibility:
        """Record an incompatibility (external or learned) and index it by package."""
        incompatibility.id = self._next_id
        self._next_id += 1
        for package in incompatibility.terms:
            self._by_package.setdefault(package, []).append(incompatibility)
        return incompatibility

    def add_dependencies(
        self, package: Package, versions: VersionSet, dependencies: list[tuple[Package, VersionSet, Any]]
    ) -> list[Incompatibility]:
        """``package in versions depends on d in D`` for each ``(d, D, note)``, merged with the
        same dependency of neighbouring versions; returns the incompatibilities now in force.
        ``note`` is kept for the report (the requirement texts behind ``D``)."""
        out = []
        for dependency, required, note in dependencies:
            if dependency == package:
                # depending on oneself: only the part outside the requirement is forbidden
                terms = {package: Term(True, versions.difference(required))}
                if not terms[package].set:
                    continue
            elif not required:
                # a requirement no version satisfies: these versions cannot be used at all
                terms = {package: Term(True, versions)}
            else:
                terms = {package: Term(True, versions), dependency: Term(False, required)}
            incompatibility = Incompatibility(terms, DEPENDENCY, reason=(dependency, required, note))
            if len(terms) == 2:
                incompatibility = self._merge_dependency(incompatibility, package, dependency, required)
            self.add(incompatibility)
            out.append(incompatibility)
        return out

    def _merge_dependency(
        self, incompatibility: Incompatibility, package: Package, dependency: Package, required: VersionSet
    ) -> Incompatibility:
        past_by_range = self._merged.setdefault((package, dependency), {})
        past = past_by_range.get(required)
        if past is None:
            past_by_range[required] = incompatibility
            return incompatibility
        merged = Incompatibility(
            {
                package: Term(True, past.terms[package].set.union(incompatibility.terms[package].set)),
                dependency: Term(False, required),
            },
            DEPENDENCY,
            reason=(dependency, required, incompatibility.reason[2]),
        )
        for key in (package, dependency):
            bucket = self._by_package.get(key)
            if bucket is not None:
                # the merged fact replaces the narrower one (usually the latest added)
                for index in range(len(bucket) - 1, -1, -1):
                    if bucket[index] is past:
                        del bucket[index]
                        break
        past_by_range[required] = merged
        return merged

    # -- partial solution -----------------------------------------------------------------

    @property
    def level(self) -> int:
        return self._level

    def term_of(self, package: Package) -> Term | None:
        """The intersection of every assignment of a package (None when unassigned)."""
        assigned = self._assigned.get(package)
        return None if assigned is None else assigned.term

    def pending(self) -> Iterator[tuple[Package, VersionSet]]:
        """Packages that must be selected (a positive derivation) but have no decision yet."""
        for package in self._pending:
            term = self._assigned[package].term
            assert term is not None
            yield package, term.set

    def decided(self) -> dict[Package, Version]:
        """Every decision: the solution, once nothing is pending."""
        return {p: a.decision[2] for p, a in self._assigned.items() if a.decision is not None}

    def decision_level_of(self, package: Package) -> int | None:
        assigned = self._assigned.get(package)
        if assigned is None or assigned.decision is None:
            return None
        return assigned.decision[1]

    def _derive(self, package: Package, term: Term, cause: Incompatibility) -> None:
        assigned = self._assigned.get(package)
        if assigned is None:
            assigned = self._assigned[package] = _Assignments()
        acc = term if assigned.term is None else assigned.term.intersect(term)
        assigned.derivations.append((self._counter, self._level, cause, term, acc))
        self._counter += 1
        assigned.term = acc
        self._touched[self._level].append(package)
        if acc.positive and assigned.decision is None:
            self._pending[package] = None

    def decide(self, package: Package, version: Version) -> None:
        """Pin ``package`` to ``version`` at a new decision level."""
        assigned = self._assigned.get(package)
        if assigned is None:
            assigned = self._assigned[package] = _Assignments()
        self._level += 1
        self._touched.append([package])
        term = Term(True, VersionSet.exact(version))
        assigned.decision = (self._counter, self._level, version, term)
        self._counter += 1
        assigned.term = term
        self._pending.pop(package, None)

    def would_satisfy(self, package: Package, version: Version, incompatibilities: list[Incompatibility]) -> Incompatibility | None:
        """The first incompatibility that deciding ``package == version`` would satisfy, if any."""
        exact = Term(True, VersionSet.exact(version))
        for incompatibility in incompatibilities:
            if self._relation(incompatibility, package, exact)[0] == _SATISFIED:
                return incompatibility
        return None

    def backtrack(self, level: int) -> None:
        """Undo every assignment made after decision level ``level``."""
        touched = {p for bucket in self._touched[level + 1 :] for p in bucket}
        del self._touched[level + 1 :]
        for package in touched:
            assigned = self._assigned.get(package)
            if assigned is None:
                continue
            if assigned.decision is not None and assigned.decision[1] > level:
                assigned.decision = None
            derivations = assigned.derivations
            while derivations and derivations[-1][1] > level:
                derivations.pop()
            if assigned.decision is not None:
                assigned.term = assigned.decision[3]
            elif derivations:
                assigned.term = derivations[-1][4]
            else:
                del self._assigned[package]
                self._pending.pop(package, None)
                continue
            if assigned.decision is None and assigned.term.positive:
                self._pending[package] = None
            else:
                self._pending.pop(package, None)
        self._level = level
        contradicted = self._contradicted
        if contradicted:
            for key in [i for i, lvl in contradicted.items() if lvl > level]:
                del contradicted[key]

    def backtrack_package(self, package: Package) -> bool:
        """Undo the decision on ``package`` and everything after it (conflict re-prioritization)."""
        level = self.decision_level_of(package)
        if level is None or level <= 1:
            return False
        self.backtrack(level - 1)
        return True

    # -- propagation ----------------------------------------------------------------------

    def _relation(
        self, incompatibility: Incompatibility, override: Package | None = None, override_term: Term | None = None
    ) -> tuple[int, Package | None]:
        unsatisfied: Package | None = None
        assigned = self._assigned
        for package, term in incompatibility.terms.items():
            if package == override:
                acc: Term | None = override_term
            else:
                entry = assigned.get(package)
                acc = None if entry is None else entry.term
            if acc is None:
                if not term.positive and not term.set:
                    continue
                relation = _INCONCLUSIVE
            else:
                relation = _relation(term, acc)
            if relation == _CONTRADICTED:
                return _CONTRADICTED, package
            if relation == _INCONCLUSIVE:
                if unsatisfied is not None:
                    return _INCONCLUSIVE, None
                unsatisfied = package
        if unsatisfied is None:
            return _SATISFIED, None
        return _ALMOST, unsatisfied

    def propagate(self, package: Package) -> list[tuple[Package, Incompatibility]]:
        """Unit propagation from a changed package; returns the conflicts met on the way
        (the package affected and the incompatibility that was satisfied), for the driver's
        conflict tracking. Raises ``NoSolution`` when the root cannot be satisfied."""
        conflicts: list[tuple[Package, Incompatibility]] = []
        changed = [package]
        queued = {package}
        contradicted = self._contradicted
        while changed:
            current = changed.pop()
            queued.discard(current)
            bucket = self._by_package.get(current, ())
            for incompatibility in reversed(bucket):
                if incompatibility.id in contradicted:
                    continue
                relation, unsatisfied = self._relation(incompatibility)
                if relation == _SATISFIED:
                    conflicts.append((current, incompatibility))
                    root_cause = self._resolve_conflict(incompatibility)
                    relation, unsatisfied = self._relation(root_cause)
                    assert relation == _ALMOST and unsatisfied is not None, root_cause
                    self._derive(unsatisfied, root_cause.terms[unsatisfied].negate(), root_cause)
                    changed = [unsatisfied]
                    queued = {unsatisfied}
                    break
                if relation == _ALMOST:
                    assert unsatisfied is not None
                    self._derive(unsatisfied, incompatibility.terms[unsatisfied].negate(), incompatibility)
                    if unsatisfied not in queued:
                        changed.append(unsatisfied)
                        queued.add(unsatisfied)
                elif relation == _CONTRADICTED:
                    contradicted[incompatibility.id] = self._level
        return conflicts

    def _is_terminal(self, incompatibility: Incompatibility) -> bool:
        terms = incompatibility.terms
        if not terms:
            return True
        if len(terms) > 1:
            return False
        (package, term), = terms.items()
        return package == self.root and term.positive and self.root_version in term.set

    def _satisfier(
        self, package: Package, term: Term, start: Term | None
    ) -> tuple[int, int, Incompatibility | None, Term]:
        """The earliest assignment of ``package`` after which (with ``start``) ``term`` holds."""
        assigned = self._assigned[package]
        derivations = assigned.derivations
        # satisfaction only grows along the list (each step intersects one more term), so the
        # earliest satisfying prefix is found by bisection; start ∩ prefix = start ∩ its running
        # intersection
        low, high = 0, len(derivations)
        while low < high:
            middle = (low + high) // 2
            acc = derivations[middle][4] if start is None else start.intersect(derivations[middle][4])
            if _satisfies(acc, term):
                high = middle
            else:
                low = middle + 1
        if low < len(derivations):
            index, level, cause, own, _ = derivations[low]
            return index, level, cause, own
        decision = assigned.decision
        assert decision is not None, (package, term)
        return decision[0], decision[1], None, decision[3]

    def _resolve_conflict(self, incompatibility: Incompatibility) -> Incompatibility:
        changed = False
        while True:
            if self._is_terminal(incompatibility):
                raise NoSolution(incompatibility)
            satisfier_package: Package | None = None
            satisfier: tuple[int, int, Incompatibility | None, Term] | None = None
            others: list[tuple[int, int]] = []
            for package, term in incompatibility.terms.items():
                found = self._satisfier(package, term, None)
                if satisfier is None or found[0] > satisfier[0]:
                    if satisfier is not None:
                        others.append((satisfier[0], satisfier[1]))
                    satisfier_package, satisfier = package, found
                else:
                    others.append((found[0], found[1]))
            assert satisfier is not None and satisfier_package is not None
            index, level, cause, own = satisfier
            term = incompatibility.terms[satisfier_package]
            previous = max(others, default=(-1, 0))
            if not _satisfies(own, term):
                earlier = self._satisfier(satisfier_package, term, own)
                if earlier[0] > previous[0]:
                    previous = (earlier[0], earlier[1])
            previous_level = previous[1]
            if cause is None or previous_level != level:
                if changed:
                    self.add(incompatibility)
                self.backtrack(previous_level)
                return incompatibility
            incompatibility = _prior_cause(incompatibility, cause, satisfier_package)
            changed = True


def _prior_cause(incompatibility: Incompatibility, cause: Incompatibility, package: Package) -> Incompatibility:
    """Resolve two incompatibilities on ``package``: what remains true of both."""
    terms = dict(incompatibility.terms)
    first = terms.pop(package)
    for other, term in cause.terms.items():
        if other == package:
            continue
        existing = terms.get(other)
        terms[other] = term if existing is None else existing.intersect(term)
    merged = first.union(cause.terms[package])
    if not merged.is_any():
        terms[package] = merged
    return Incompatibility(terms, DERIVED, cause1=incompatibility, cause2=cause)
