"""The resolver's driver: runs PubGrub over what a ``MetadataProvider`` says, and builds the answer.

One loop, as in PubGrub: propagate what is known, pick the next package (root first, then
URL pins and single-version ranges, then packages in the order they were discovered), ask the
candidate policy for a version, and add that version's dependencies. When one decided package
keeps ruling out versions of another (five times), deciding it first was the mistake, as in
uv's "wrong backtracking" scenario: the affected package moves ahead, the culprit behind every
other package, and the culprit's decision is undone. When the policy has no version left it adds the facts that say
why (yanked, ``Requires-Python``, no such version), so the explanation can cite them.

The target Python is a package with one version; ``Requires-Python`` is a dependency on it,
and a constraint is the fact "no version outside C may be chosen". Both are true from the
start, so they are propagated before the first decision.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement as _PackagingInvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pyx_server.engine.errors import InvalidRequirement
from pyx_server.engine.progress import PhaseFinished, PhaseStarted, Reporter
from pyx_server.engine.resolver.candidates import (
    UNUSABLE_DISTRIBUTION,
    UNUSABLE_REQUIRES_PYTHON,
    CandidateSelector,
    PackageVersions,
    widen,
)
from pyx_server.engine.resolver.dependencies import (
    PYTHON_PKG,
    ROOT_PKG,
    Dependency,
    DependencyBuilder,
    Pkg,
)
from pyx_server.engine.resolver.errors import ResolutionImpossible
from pyx_server.engine.resolver.options import ResolverOptions
from pyx_server.engine.resolver.provider import (
    Candidate,
    DependenciesResult,
    Found,
    MetadataProvider,
    NotFound,
    PrefetchHint,
    Unavailable,
)
from pyx_server.engine.resolver.python import python_floor
from pyx_server.engine.resolver.pubgrub import (
    CONSTRAINT,
    NO_VERSIONS,
    UNAVAILABLE,
    Incompatibility,
    NoSolution,
    State,
    Term,
)
from pyx_server.engine.resolver.ranges import VersionSet
from pyx_server.engine.resolver.report import ReportContext, Unavailability
from pyx_server.engine.resolver.resolution import Resolution, ResolvedPackage, Via

__all__ = ["resolve"]

ROOT_VERSION = Version("0")
#: conflicts a package may take part in before it is re-prioritized (uv uses 5 too)
CONFLICT_THRESHOLD = 5
# priority tiers, highest first
_ROOT_TIER, _URL_TIER, _SINGLETON_TIER, _EARLY_TIER, _DEFAULT_TIER, _LATE_TIER = 9, 5, 4, 3, 2, 1


def resolve(
    requirements: Iterable[Requirement | str],
    provider: MetadataProvider,
    options: ResolverOptions | None = None,
    *,
    reporter: Reporter | None = None,
) -> Resolution:
    """Choose one version of every package the requirements need, or explain why none exists.

    Raises ``ResolutionImpossible`` (code ``no-solution``) with the derivation as data when
    there is no solution, and ``InvalidRequirement`` for requirements that cannot be parsed or
    URLs that conflict.
    """
    return _Solver(requirements, provider, options or ResolverOptions(), reporter or Reporter()).solve()


def _parse(requirement: Requirement | str) -> Requirement:
    if isinstance(requirement, Requirement):
        return requirement
    try:
        return Requirement(requirement)
    except _PackagingInvalidRequirement as error:
        raise InvalidRequirement(f"`{requirement}` is not a valid requirement", detail=str(error)) from None


def _names_prerelease(requirement: Requirement) -> bool:
    """PEP 440: a specifier that names a pre-release (other than in ``!=``) opts into them."""
    for specifier in requirement.specifier:
        if specifier.operator == "!=":
            continue
        text = specifier.version[:-2] if specifier.version.endswith(".*") else specifier.version
        try:
            if Version(text).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


def _exact_pins(requirement: Requirement) -> VersionSet:
    """The versions a requirement pins exactly (``==1.0``, ``===1.0``): what may be yanked."""
    pinned = VersionSet.empty()
    for specifier in requirement.specifier:
        if specifier.operator in ("==", "===") and not specifier.version.endswith(".*"):
            pinned = pinned.union(VersionSet.from_specifier(specifier))
    return pinned


class _Solver:
    def __init__(
        self,
        requirements: Iterable[Requirement | str],
        provider: MetadataProvider,
        options: ResolverOptions,
        reporter: Reporter,
    ) -> None:
        self.provider = provider
        self.options = options
        self.reporter = reporter
        self.requirements = [_parse(r) for r in requirements]
        env: dict[str, str] = dict(options.environment or default_environment())
        if options.python is not None:
            self.python = options.python
            if options.environment is None:
                # the running interpreter's markers, but for the target Python's version
                env["python_full_version"] = str(self.python)
                env["python_version"] = ".".join(str(p) for p in self.python.release[:2])
        else:
            self.python = Version(env.get("python_full_version") or env.get("python_version") or "3")
        env.setdefault("python_full_version", str(self.python))
        env.setdefault("python_version", ".".join(str(p) for p in self.python.release[:2]))
        overrides = [_parse(o) for o in options.overrides]
        self.builder = DependencyBuilder(env, overrides)
        constraints = [_parse(c) for c in options.constraints]

        # URL pins, explicit pre-release opt-ins and allowed yanks come from first-party input
        self.url_pins: dict[str, str] = {}
        explicit: set[str] = set()
        yanks: dict[str, VersionSet] = {}
        first_party = [r for r in self.requirements if self.builder.applies(r.marker)]
        first_party += [c for c in constraints if self.builder.applies(c.marker)]
        first_party += [o for o in overrides if self.builder.applies(o.marker)]
        for requirement in first_party:
            name = canonicalize_name(requirement.name)
            if requirement.url:
                self._pin(name, requirement.url, None)
            if _names_prerelease(requirement):
                explicit.add(name)
            pins = _exact_pins(requirement)
            if pins:
                yanks[name] = yanks.get(name, VersionSet.empty()).union(pins)

        # constraints: per name, the intersection of the applicable ones
        self.constraints: dict[str, tuple[VersionSet, list[str]]] = {}
        for constraint in constraints:
            if constraint.url or not self.builder.applies(constraint.marker) or not constraint.specifier:
                continue
            name = canonicalize_name(constraint.name)
            allowed, texts = self.constraints.get(name, (VersionSet.full(), []))
            self.constraints[name] = (allowed.intersection(VersionSet.from_specifier_set(constraint.specifier)), [*texts, str(constraint)])

        preferences = {canonicalize_name(n): v for n, v in options.preferences.items()}
        options = ResolverOptions(
            environment=options.environment,
            python=options.python,
            constraints=options.constraints,
            overrides=options.overrides,
            preferences=preferences,
            upgrade=options.upgrade,
            upgrade_packages=frozenset(canonicalize_name(n) for n in options.upgrade_packages),
            prerelease=options.prerelease,
            resolution=options.resolution,
            exclude_newer=options.exclude_newer,
        )
        self.options = options
        self.selector = CandidateSelector(
            options,
            self.python,
            explicit_prereleases=frozenset(explicit),
            allowed_yanks=yanks,
            direct_names=frozenset(canonicalize_name(r.name) for r in self.requirements),
        )
        self.state = State(ROOT_PKG, ROOT_VERSION)
        self.listings: dict[str, PackageVersions] = {}
        self.missing: dict[str, NotFound] = {}
        self.metadata: dict[tuple[str, Version], DependenciesResult] = {}
        self.edges: dict[tuple[Pkg, Version], list[Dependency]] = {}
        self.added: dict[tuple[Pkg, Version], list[Incompatibility]] = {}
        self.order: dict[Pkg, int] = {ROOT_PKG: 0, PYTHON_PKG: 1}
        self.hinted: set[str] = set()
        self.tier: dict[str, int] = {}
        self.conflicts: dict[tuple[str, str], int] = {}
        self.to_prioritize: list[Pkg] = []
        self.to_deprioritize: list[Pkg] = []
        self.attempts: dict[str, int] = {}
        self.missing_extras: list[tuple[str, Version, str]] = []
        self.decisions = 0

    # -- the loop -----------------------------------------------------------------------------

    def solve(self) -> Resolution:
        started = time.monotonic()
        self.reporter.report(PhaseStarted("resolve"))
        state = self.state
        state.add(Incompatibility({PYTHON_PKG: Term(True, VersionSet.exact(self.python).complement())}, NO_VERSIONS))
        for name, (allowed, texts) in self.constraints.items():
            if not allowed.is_full():
                state.add(Incompatibility({Pkg(name): Term(True, allowed.complement())}, CONSTRAINT, reason=texts))
        try:
            # the facts true from the start, root first: a conflict among them then resolves on
            # the fact ("… does not satisfy Python>=3.10"), not on "the root must be chosen"
            state.propagate(ROOT_PKG)
            state.propagate(PYTHON_PKG)
            for name in self.constraints:
                state.propagate(Pkg(name))
            following: Pkg = ROOT_PKG
            while True:
                for _, incompatibility in state.propagate(following):
                    self._record_conflict(following, incompatibility)
                self._reprioritize()
                picked = self._pick()
                if picked is None:
                    break
                following = picked[0]
                self._step(*picked)
        except NoSolution as failure:
            raise self._failure(failure.incompatibility) from None
        resolution = self._resolution()
        self.reporter.report(PhaseFinished("resolve", len(resolution), time.monotonic() - started))
        return resolution

    def _pick(self) -> tuple[Pkg, VersionSet] | None:
        best: tuple[tuple[int, int], Pkg, VersionSet] | None = None
        for package, allowed in self.state.pending():
            key = self._priority(package, allowed)
            if best is None or key > best[0]:
                best = (key, package, allowed)
        return None if best is None else (best[1], best[2])

    def _priority(self, package: Pkg, allowed: VersionSet) -> tuple[int, int]:
        order = -self.order.get(package, len(self.order))
        if package in (ROOT_PKG, PYTHON_PKG):
            return (_ROOT_TIER, order)
        if package.name in self.url_pins:
            return (_URL_TIER, order)
        if allowed.singleton() is not None:
            return (_SINGLETON_TIER, order)
        return (self.tier.get(package.name, _DEFAULT_TIER), order)

    def _step(self, package: Pkg, allowed: VersionSet) -> None:
        """Try to decide one package: pick a version and add its dependencies, or say why not."""
        state = self.state
        if package == ROOT_PKG:
            dependencies = self.builder.root(self.requirements)
            self._check_urls(dependencies)
            self._add_and_decide(package, ROOT_VERSION, VersionSet.exact(ROOT_VERSION), dependencies)
            return
        if package == PYTHON_PKG:  # only reachable through a conflict; the fact is already known
            if self.python in allowed:
                state.decide(package, self.python)
            else:
                state.add(Incompatibility({package: Term(True, allowed)}, NO_VERSIONS))
            return
        listing = self._listing(package.name)
        if listing is None:
            missing = self.missing[package.name]
            reason = Unavailability("not-found", missing.reason, versions_level=False, hint=missing.hint)
            state.add(Incompatibility({package: Term(True, VersionSet.full())}, UNAVAILABLE, reason=reason))
            return
        candidate = self.selector.select(listing, allowed)
        if candidate is None:
            self._explain_nothing_left(package, listing, allowed)
            return
        self._prefetch_next(package.name, listing, allowed, candidate)
        versions = widen(listing.visible, candidate.version)
        key = (package, candidate.version)
        if key in self.added:
            self._add_and_decide(package, candidate.version, versions, self.edges[key])
            return
        metadata = self._metadata(candidate)
        if isinstance(metadata, Unavailable):
            reason = Unavailability("metadata", metadata.reason, metadata.reason)
            state.add(Incompatibility({package: Term(True, versions)}, UNAVAILABLE, reason=reason))
            return
        requires_python = metadata.requires_python
        floor = python_floor(requires_python) if requires_python is not None else None
        if floor is not None and not floor.contains(self.python, prereleases=True):
            python = Dependency(PYTHON_PKG, VersionSet.from_specifier_set(floor), None)
            self._add_and_decide(package, candidate.version, versions, [python])
            return
        dependencies = self.builder.of(listing.name, metadata.requires, package.extra)
        self._check_urls(dependencies)
        if package.extra is not None:
            provided = metadata.provides_extras
            if provided is not None and package.extra not in {canonicalize_name(e) for e in provided}:
                self.missing_extras.append((package.name, candidate.version, package.extra))
            dependencies = [Dependency(Pkg(package.name), VersionSet.exact(candidate.version), None), *dependencies]
        self._add_and_decide(package, candidate.version, versions, dependencies)

    def _add_and_decide(self, package: Pkg, version: Version, versions: VersionSet, dependencies: list[Dependency]) -> None:
        key = (package, version)
        added = self.added.get(key)
        if added is None:
            # a version tried again after backjumping reuses what it added the first time
            self._discover(dependencies)
            added = self.added[key] = self.state.add_dependencies(
                package, versions, [(d.package, d.versions, d.label()) for d in dependencies]
            )
            self.edges[key] = dependencies
        conflict = self.state.would_satisfy(package, version, added)
        if conflict is not None:
            self._record_conflict(package, conflict)
            return
        self.state.decide(package, version)
        self.decisions += 1

    def _explain_nothing_left(self, package: Pkg, listing: PackageVersions, allowed: VersionSet) -> None:
        """No usable candidate in ``allowed``: add the facts that say why, per run of versions."""
        state = self.state
        covered = VersionSet.empty()
        for run in self.selector.skipped(listing, allowed):
            if run.reason == UNUSABLE_REQUIRES_PYTHON:
                assert run.detail is not None
                required = VersionSet.from_specifier_set(run.detail)
                state.add_dependencies(package, run.versions, [(PYTHON_PKG, required, ())])
            elif run.reason == UNUSABLE_DISTRIBUTION:
                assert run.detail is not None
                reason = Unavailability("distribution", run.detail, run.detail)
                state.add(Incompatibility({package: Term(True, run.versions)}, UNAVAILABLE, reason=reason))
            else:
                because = f" (reason: {run.detail})" if run.detail else ""
                reason = Unavailability("yanked", f"was yanked{because}", f"were yanked{because}")
                state.add(Incompatibility({package: Term(True, run.versions)}, UNAVAILABLE, reason=reason))
            covered = covered.union(run.versions)
        rest = allowed.difference(covered)
        if rest:
            state.add(Incompatibility({package: Term(True, rest)}, NO_VERSIONS))

    # -- provider access ---------------------------------------------------------------------

    def _listing(self, name: str) -> PackageVersions | None:
        listing = self.listings.get(name)
        if listing is not None or name in self.missing:
            return listing
        url = self.url_pins.get(name)
        found = (
            self.provider.direct(NormalizedName(name), url)
            if url is not None
            else self.provider.versions(NormalizedName(name))
        )
        if isinstance(found, Found):
            listing = self.listings[name] = self.selector.classify(NormalizedName(name), list(found.candidates))
            return listing
        self.missing[name] = found
        return None

    def _metadata(self, candidate: Candidate) -> DependenciesResult:
        key = (candidate.name, candidate.version)
        cached = self.metadata.get(key)
        if cached is None:
            cached = self.metadata[key] = self.provider.dependencies(candidate)
        return cached

    def _discover(self, dependencies: list[Dependency]) -> None:
        hints = []
        for dependency in dependencies:
            package = dependency.package
            if package not in self.order:
                self.order[package] = len(self.order)
            name = package.name
            if package != PYTHON_PKG and name not in self.hinted and name not in self.listings:
                self.hinted.add(name)
                hints.append(PrefetchHint(NormalizedName(name)))
        if hints:
            self.provider.prefetch(hints)

    def _prefetch_next(self, name: str, listing: PackageVersions, allowed: VersionSet, chosen: Candidate) -> None:
        """After a package needed a second try, hint the metadata of the versions after this one."""
        attempts = self.attempts[name] = self.attempts.get(name, 0) + 1
        if attempts < 2:
            return
        following = self.selector.next_likely(listing, allowed.difference(VersionSet.exact(chosen.version)), 4)
        following = [v for v in following if (name, v) not in self.metadata]
        if following:
            self.provider.prefetch([PrefetchHint(NormalizedName(name), tuple(following))])

    def _pin(self, name: str, url: str, dependent: str | None) -> None:
        existing = self.url_pins.get(name)
        if existing is None:
            self.url_pins[name] = url
        elif existing.rstrip("/") != url.rstrip("/"):
            via = f" (required by `{dependent}`)" if dependent else ""
            raise InvalidRequirement(
                f"Conflicting URLs for `{name}`: `{existing}` and `{url}`{via}",
                hints=["Require the package from one URL only."],
            )

    def _check_urls(self, dependencies: list[Dependency]) -> None:
        for dependency in dependencies:
            requirement = dependency.requirement
            if requirement is None or not requirement.url:
                continue
            name = dependency.package.name
            if name not in self.url_pins and name in self.listings:
                raise InvalidRequirement(
                    f"`{requirement}` is a URL requirement on `{name}`, which was already resolved from the index",
                    hints=[f"Add `{requirement}` to your own requirements (or constraints)."],
                )
            self._pin(name, requirement.url, str(requirement))

    # -- conflict tracking (uv's heuristic) ------------------------------------------------------

    def _record_conflict(self, affected: Pkg, incompatibility: Incompatibility) -> None:
        """Count how often a decided package (the culprit) rules out versions of another.

        When one culprit keeps rejecting versions of the same package, deciding the culprit
        first was the mistake (uv's "wrong backtracking" case): the affected package moves
        ahead, the culprit behind, and the culprit's decision is undone.
        """
        if affected in (ROOT_PKG, PYTHON_PKG):
            return
        for package in incompatibility.terms:
            if package in (ROOT_PKG, PYTHON_PKG) or package.name == affected.name:
                continue
            if self.state.decision_level_of(package) is None:
                continue
            key = (affected.name, package.name)
            count = self.conflicts[key] = self.conflicts.get(key, 0) + 1
            if count == CONFLICT_THRESHOLD:
                self.to_prioritize.append(affected)
                self.to_deprioritize.append(package)

    def _reprioritize(self) -> None:
        for package in self.to_prioritize:
            self.tier[package.name] = _EARLY_TIER
        self.to_prioritize.clear()
        for package in self.to_deprioritize:
            if self.tier.get(package.name) in (_EARLY_TIER, _LATE_TIER):
                continue
            self.tier[package.name] = _LATE_TIER
            self.state.backtrack_package(package)
        self.to_deprioritize.clear()

    # -- results ------------------------------------------------------------------------------

    def _resolution(self) -> Resolution:
        decided = self.state.decided()
        chosen: dict[str, Version] = {}
        extras: dict[str, set[str]] = {}
        via: dict[str, dict[tuple[Any, ...], Via]] = {}
        for package, version in decided.items():
            if package in (ROOT_PKG, PYTHON_PKG):
                continue
            if package.extra is None:
                chosen[package.name] = version
            else:
                extras.setdefault(package.name, set()).add(package.extra)
        for package, version in decided.items():
            if package == PYTHON_PKG:
                continue
            for dependency in self.edges.get((package, version), ()):
                target = dependency.package
                if dependency.requirement is None or target == PYTHON_PKG or target.name == package.name:
                    continue
                name = None if package == ROOT_PKG else package.name
                entry = Via(name, dependency.requirement, package.extra)
                key = (name, package.extra, str(dependency.requirement))
                via.setdefault(target.name, {})[key] = entry
        warnings = []
        packages = {}
        for name in sorted(chosen):
            version = chosen[name]
            listing = self.listings[name]
            index = listing.find(version)
            assert index is not None
            candidate = listing.candidates[index]
            if candidate.yanked:
                because = f" (reason: {candidate.yanked_reason})" if candidate.yanked_reason else ""
                warnings.append(f"`{name}=={version}` is yanked{because}")
            packages[name] = ResolvedPackage(
                name=name,
                version=version,
                candidate=candidate,
                extras=frozenset(extras.get(name, ())),
                via=tuple(via.get(name, {}).values()),
            )
        for name, version, extra in self.missing_extras:
            if name in packages and extra in packages[name].extras and packages[name].version == version:
                warnings.append(f"The package `{name}=={version}` does not have an extra named `{extra}`")
        return Resolution(packages=packages, warnings=tuple(dict.fromkeys(warnings)))

    def _failure(self, incompatibility: Incompatibility) -> ResolutionImpossible:
        context = ReportContext(python=self.python, packages=self.listings, exclude_newer=self.options.exclude_newer)
        return ResolutionImpossible(incompatibility, context, [str(r) for r in self.requirements])

