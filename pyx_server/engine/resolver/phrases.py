"""The words of a conflict report: version sets, facts and terms as phrases and sentences.

Pure. ``report`` walks the derivation tree and writes the paragraphs; what a version set,
an external fact ("``a`` has no versions …", "``a==1`` depends on ``b>=2``") or a set of
terms reads like is decided here. A version set of a package prints against the versions that
exist (``a>=2`` rather than ``a>1.5.2,<3.dev0`` when 2.0 is the first after 1.5.2; ``all
versions of a`` when it covers them all); a required range prints as it was written.
"""

from __future__ import annotations

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


def raw_range(package: Pkg, versions: VersionSet, joiner: str = " or ") -> str:
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


def _run_texts(package: Pkg, known: Sequence[Version], versions: VersionSet, runs: list[tuple[int, int]]) -> list[str]:
    """Each run of known versions that ``versions`` holds, as text; a run at an end of the
    listing is open on that side when ``versions`` is (``a>=2`` rather than ``a>=2,<=2.4``)."""
    segments = versions.segments
    open_low = segments[0][0][2] == "min"
    open_high = segments[-1][1][2] == "max"
    return [_run_text(package, known, i, j, open_low, open_high) for i, j in runs]


class RangeText:
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
            self.parts = [raw_range(package, versions)]
            return
        known = context.visible(package)
        runs = _runs(known, versions) if known else []
        if not runs:
            self.parts = [raw_range(package, versions)] if not versions.is_full() else [f"all versions of {package}"]
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


def available_text(context: ReportContext, package: Pkg, missing: VersionSet, python: VersionSet | None = None) -> str:
    """The sentence for "no version of ``package`` in ``missing``" (uv's wording).

    For Python the fact is "only the target version exists"; ``python`` is the range the
    neighbouring statement asks for, so the sentence can name it.
    """
    if package == PYTHON_PKG:
        if python is not None and context.python not in python:
            return f"the current Python version ({context.python}) does not satisfy {raw_range(package, python)}"
        if context.python not in missing and missing.union(VersionSet.exact(context.python)).is_full():
            return f"the current Python version is {context.python}"
        return f"the current Python version ({context.python}) does not satisfy {raw_range(package, missing)}"
    if missing.is_full():
        return f"there are no versions of {package}"
    exact = missing.singleton()
    known = context.visible(package)
    if exact is not None or not known:
        return f"there is no version of {raw_range(package, missing)}"
    present = missing.complement()
    runs = _runs(known, present)
    if not runs:
        return f"there are no versions of {package}"
    parts = _run_texts(package, known, present, runs)
    if len(parts) == 1:
        if parts[0].startswith("all versions of"):
            return f"there is no version of {raw_range(package, missing)}"
        listing = context.packages.get(package.name)
        if listing is not None and len(listing.candidates) == 1 and listing.candidates[0].url:
            return f"only {parts[0]} is available (from {listing.candidates[0].url})"
        return f"only {parts[0]} is available"
    return f"only {_join(parts)} are available"


# -- sentences ---------------------------------------------------------------------------------


class Formatter:
    def __init__(self, context: ReportContext) -> None:
        self.context = context

    def range(self, package: Pkg, versions: VersionSet) -> RangeText:
        return RangeText(self.context, package, versions)

    def required(self, package: Pkg, versions: VersionSet) -> str:
        """A required range: as written, unless a derivation made it a long union, which is
        then stated over the versions that exist (``b>=1.0,<=1.9`` for ten adjacent pins)."""
        texts = versions.specifier_strings()
        if len(texts) <= 2 or package in (ROOT_PKG, PYTHON_PKG):
            return raw_range(package, versions)
        known = self.context.visible(package)
        runs = _runs(known, versions) if known else []
        if not runs:
            # no listing to narrow against: the ends and a count
            return f"one of {package}{texts[0]} … {package}{texts[-1]} ({len(texts)} ranges)"
        parts = _run_texts(package, known, versions, runs)
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
            return available_text(self.context, package, term.set, python)
        if kind == UNAVAILABLE:
            (package, term), = terms.items()
            reason: Unavailability = incompatibility.reason
            if not reason.versions_level:
                return f"{package} {reason.singular}"
            subject = self.range(package, term.set)
            return f"{subject.text()} {reason.text(subject.plural)}"
        if kind == CONSTRAINT:
            (package, term), = terms.items()
            return f"your constraints allow only {raw_range(package, term.set.complement())}"
        if kind == DEPENDENCY:
            package = next(iter(terms))
            dependency, required, note = incompatibility.reason
            if not required:
                # requirements that no version satisfies together ("a==1.0 and a==2.0")
                written = list(note) if note else [raw_range(dependency, required)]
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
                return f"you require {raw_range(dependency, required)}"
            return self.depends(package, terms[package].set, [(dependency, required)])
        return "an unknown reason"  # pragma: no cover

    def both_external(self, first: Incompatibility, second: Incompatibility, python: VersionSet | None = None) -> str:
        a, b = first.dependency(), second.dependency()
        if a and b and a[0] == b[0] and a[2] and b[2] and first.terms[a[0]].set == second.terms[b[0]].set:
            if a[0] == ROOT_PKG:
                return f"you require {raw_range(a[1], a[2])} and {raw_range(b[1], b[2])}"
            return self.depends(a[0], first.terms[a[0]].set, [(a[1], a[2]), (b[1], b[2])])
        python = python_range(first.terms) or python_range(second.terms) or python
        if a and b and a[0] == b[1] and a[0] != ROOT_PKG:
            # read a chain in order: "c depends on a and a depends on b"
            first, second = second, first
        if is_python_fact(second) and not is_python_fact(first):
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


def python_range(terms: Mapping[Pkg, Term]) -> VersionSet | None:
    """The Python range a statement requires (its negative Python term), if any."""
    term = terms.get(PYTHON_PKG)
    return term.set if term is not None and not term.positive else None


def is_python_fact(incompatibility: Incompatibility) -> bool:
    return incompatibility.kind == NO_VERSIONS and PYTHON_PKG in incompatibility.terms
