"""The resolver as a library: provider discipline, results, errors, correctness against brute force, speed."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pyx_server.engine.errors import InvalidRequirement, PyxError
from pyx_server.engine.progress import CollectingReporter, PhaseFinished, PhaseStarted
from pyx_server.engine.resolver import (
    Candidate,
    Dependencies,
    Found,
    InMemoryProvider,
    MetadataProvider,
    PrefetchHint,
    ResolutionImpossible,
    ResolverOptions,
    Unavailable,
    resolve,
)

OPTIONS = ResolverOptions(python=Version("3.12.1"))


def test_in_memory_provider_is_a_metadata_provider() -> None:
    assert isinstance(InMemoryProvider({}), MetadataProvider)


def test_each_listing_and_each_candidate_metadata_is_asked_for_once() -> None:
    universe = {
        "a": {"1.0": {"requires": ["b", "c"]}, "2.0": {"requires": ["b>=2", "c"]}},
        "b": {"1.0": {}, "1.5": {}},
        "c": {"1.0": {"requires": ["b<2"]}},
    }
    provider = InMemoryProvider(universe)
    resolution = resolve(["a"], provider, OPTIONS)
    assert resolution.versions() == {"a": Version("1.0"), "b": Version("1.5"), "c": Version("1.0")}
    listings = [call for call in provider.calls if call[0] == "versions"]
    assert sorted(listings) == [("versions", "a"), ("versions", "b"), ("versions", "c")]
    metadata = [call for call in provider.calls if call[0] == "dependencies"]
    assert len(metadata) == len(set(metadata))


def test_discovered_packages_are_prefetched_before_they_are_needed() -> None:
    provider = InMemoryProvider({"a": {"1.0": {"requires": ["b", "c"]}}, "b": {"1.0": {}}, "c": {"1.0": {}}})
    resolve(["a"], provider, OPTIONS)
    hinted = [hint.name for hint in provider.prefetched if not hint.versions]
    assert hinted[:3] == ["a", "b", "c"]
    # the hint for b and c came before their listings were read
    first_listing_of_b = provider.calls.index(("versions", "b"))
    assert ("dependencies", "a", "1.0") in provider.calls[:first_listing_of_b]


def test_next_candidates_are_prefetched_when_a_package_is_retried() -> None:
    universe = {
        "a": {f"{v}.0": {"requires": ["b<1"]} for v in range(2, 8)} | {"1.0": {}},
        "b": {"0.5": {}, "1.0": {}},
    }
    provider = InMemoryProvider(universe)
    resolve(["a", "b>=1"], provider, OPTIONS)
    version_hints = [h for h in provider.prefetched if h.name == "a" and h.versions]
    assert version_hints, provider.prefetched
    assert all(isinstance(v, Version) for h in version_hints for v in h.versions)


class BrokenIndexProvider(InMemoryProvider):
    """Says a package is missing with a provider-specific reason and hint."""

    def versions(self, name: Any) -> Any:
        from pyx_server.engine.resolver import NotFound

        if name == "ghost":
            self.calls.append(("versions", name))
            return NotFound(reason="is not on the index (404)", hint="Check `--index-url`.")
        return super().versions(name)


def test_not_found_uses_the_providers_reason_and_hint() -> None:
    provider = BrokenIndexProvider({"a": {"1.0": {"requires": ["ghost"]}}})
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(["a"], provider, OPTIONS)
    assert "ghost is not on the index (404)" in caught.value.report()
    assert "Check `--index-url`." in caught.value.hints


class CustomProvider:
    """A provider written from scratch against the Protocol (no InMemoryProvider)."""

    def __init__(self) -> None:
        self.prefetched: list[PrefetchHint] = []

    def versions(self, name: Any) -> Any:
        return Found(tuple(Candidate(name, Version(v)) for v in ("1.0", "2.0")))

    def direct(self, name: Any, url: str) -> Any:
        raise AssertionError("no URLs here")

    def dependencies(self, candidate: Candidate) -> Any:
        if candidate.version == Version("2.0"):
            return Unavailable("could not be built: missing compiler")
        return Dependencies(requires=(), requires_python=None, provides_extras=frozenset())

    def prefetch(self, hints: Sequence[PrefetchHint]) -> None:
        self.prefetched.extend(hints)


def test_a_provider_only_needs_the_protocol() -> None:
    provider = CustomProvider()
    assert isinstance(provider, MetadataProvider)
    assert resolve(["x"], provider, OPTIONS).versions() == {"x": Version("1.0")}
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(["x>=2"], provider, OPTIONS)
    assert "x==2.0 could not be built: missing compiler" in caught.value.report()


def test_resolution_records_extras_and_via() -> None:
    universe = {
        "app": {"1.0": {"requires": ["lib[fast]>=1"]}},
        "lib": {"1.0": {"extras": {"fast": ["speedups"]}}},
        "speedups": {"1.0": {}},
    }
    resolution = resolve(["app", "lib"], InMemoryProvider(universe), OPTIONS)
    lib = resolution["lib"]
    assert lib.extras == frozenset({"fast"})
    assert lib.direct
    assert {(v.name, str(v.requirement)) for v in lib.via} == {(None, "lib"), ("app", "lib[fast]>=1")}
    speedups = resolution["speedups"]
    assert [(v.name, v.extra) for v in speedups.via] == [("lib", "fast")]
    assert not speedups.direct
    assert str(lib) == "lib[fast]==1.0"
    assert list(resolution) == ["app", "lib", "speedups"]
    assert resolution.warnings == ()


def test_url_candidates_keep_their_url() -> None:
    provider = InMemoryProvider({}, urls={"file:///src/lib": ("lib", "0.3", {})})
    resolution = resolve(["lib @ file:///src/lib"], provider, OPTIONS)
    assert resolution["lib"].candidate.url == "file:///src/lib"
    assert str(resolution["lib"]) == "lib @ file:///src/lib"
    assert ("versions", "lib") not in provider.calls


def test_conflicting_urls_are_an_invalid_requirement() -> None:
    provider = InMemoryProvider({}, urls={"file:///a": ("lib", "1", {}), "file:///b": ("lib", "1", {})})
    with pytest.raises(InvalidRequirement) as caught:
        resolve(["lib @ file:///a", "lib @ file:///b"], provider, OPTIONS)
    assert "`lib`" in caught.value.message
    assert caught.value.code == "invalid-requirement"


def test_a_url_dependency_after_the_index_was_used_is_refused() -> None:
    universe = {"app": {"1.0": {"requires": ["other", "lib @ file:///lib"]}}, "other": {"1.0": {"requires": ["lib"]}}}
    universe["lib"] = {"1.0": {}}
    provider = InMemoryProvider(universe, urls={"file:///lib": ("lib", "1.0", {})})
    # `lib` is met as a URL requirement when app is expanded, before anything read its listing
    assert resolve(["app"], provider, OPTIONS)["lib"].candidate.url == "file:///lib"
    late = InMemoryProvider(
        {"app": {"1.0": {"requires": ["lib", "other"]}}, "other": {"1.0": {"requires": ["lib @ file:///lib"]}}, "lib": {"1.0": {}}},
        urls={"file:///lib": ("lib", "1.0", {})},
    )
    with pytest.raises(InvalidRequirement) as caught:
        resolve(["app"], late, OPTIONS)
    assert "already resolved from the index" in caught.value.message


def test_invalid_requirement_text() -> None:
    with pytest.raises(InvalidRequirement) as caught:
        resolve(["a >>= 1"], InMemoryProvider({}), OPTIONS)
    assert "`a >>= 1`" in caught.value.message


def test_requirements_may_be_parsed_objects() -> None:
    resolution = resolve([Requirement("a>=1")], InMemoryProvider({"a": {"1.0": {}}}), OPTIONS)
    assert resolution.versions() == {"a": Version("1.0")}


def test_progress_is_reported() -> None:
    reporter = CollectingReporter()
    resolve(["a"], InMemoryProvider({"a": {"1.0": {}}}), OPTIONS, reporter=reporter)
    assert isinstance(reporter.events[0], PhaseStarted) and reporter.events[0].phase == "resolve"
    assert isinstance(reporter.events[-1], PhaseFinished) and reporter.events[-1].count == 1


def test_default_options_use_the_running_interpreter() -> None:
    assert resolve(["a"], InMemoryProvider({"a": {"1.0": {"requires-python": ">=3.8"}}})).versions() == {
        "a": Version("1.0")
    }


def test_no_solution_is_a_pyx_error_with_data() -> None:
    universe = {"a": {"1.0": {"requires": ["b<1"]}}, "b": {"0.5": {}, "1.0": {}}}
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(["a", "b>=1"], InMemoryProvider(universe), OPTIONS)
    error = caught.value
    assert isinstance(error, PyxError)
    assert error.code == "no-solution"
    assert "`a`" in error.message and "`b>=1`" in error.message
    assert error.report() in error.message
    data = error.to_dict()
    assert data["code"] == "no-solution"
    assert data["report"] == error.report()
    tree = data["derivation"]
    steps = {step["id"]: step for step in tree["steps"]}
    assert steps[tree["root"]]["kind"] == "derived"
    kinds = {step["kind"] for step in steps.values()}
    assert {"dependency", "derived"} <= kinds
    for step in steps.values():
        assert all(cause in steps for cause in step.get("causes", []))
    import json

    json.dumps(data)  # JSON-ready all the way down


# -- correctness against exhaustive search -------------------------------------------------------


def _random_universe(seed: int, packages: int = 5, versions: int = 4) -> tuple[dict[str, Any], list[str]]:
    rng = random.Random(seed)
    universe: dict[str, Any] = {}
    for i in range(packages):
        releases = {}
        for v in range(1, versions + 1):
            requires = []
            for _ in range(rng.randint(0, 2)):
                j = rng.randrange(packages)
                if j == i:
                    continue
                bound = rng.randint(1, versions)
                op = rng.choice([">=", "<", "==", "!="])
                requires.append(f"p{j}{op}{bound}")
            releases[str(v)] = {"requires": requires}
        universe[f"p{i}"] = releases
    roots = [
        f"p{k}" + rng.choice(["", f">={rng.randint(1, versions)}", f"<{rng.randint(2, versions + 1)}"])
        for k in rng.sample(range(packages), 2)
    ]
    return universe, roots


_PARSED: dict[str, Requirement] = {}


def _requirement(text: str) -> Requirement:
    if text not in _PARSED:
        _PARSED[text] = Requirement(text)
    return _PARSED[text]


def _satisfies(universe: dict[str, Any], roots: list[str], solution: dict[str, Version]) -> bool:
    """Every requirement of the roots and of every chosen version holds (checked with packaging)."""
    requirements = [_requirement(r) for r in roots]
    for name, version in solution.items():
        requirements += [_requirement(r) for r in universe[name][str(version)]["requires"]]
    return all(r.name in solution and r.specifier.contains(solution[r.name], prereleases=True) for r in requirements)


def _exhaustive(universe: dict[str, Any], roots: list[str]) -> dict[str, Version] | None:
    """Try every assignment (each package absent or at one of its versions)."""
    names = sorted(universe)
    choices = [[None, *(Version(v) for v in universe[n])] for n in names]
    for combination in itertools.product(*choices):
        solution = {n: v for n, v in zip(names, combination) if v is not None}
        if _satisfies(universe, roots, solution):
            return solution
    return None


@pytest.mark.parametrize("chunk", range(4))
def test_agrees_with_exhaustive_search(chunk: int) -> None:
    for seed in range(chunk * 50, chunk * 50 + 50):
        universe, roots = _random_universe(seed)
        expected = _exhaustive(universe, roots)
        try:
            found: dict[str, Version] | None = resolve(roots, InMemoryProvider(universe), OPTIONS).versions()
        except ResolutionImpossible:
            found = None
        assert (found is None) == (expected is None), (seed, roots, expected)
        if found is not None:
            assert _satisfies(universe, roots, found), (seed, roots, found)


# -- speed -------------------------------------------------------------------------------------


def _large_universe(seed: int, packages: int = 300, versions: int = 30) -> dict[str, Any]:
    rng = random.Random(seed)
    universe: dict[str, Any] = {}
    for i in range(packages):
        releases = {}
        for v in range(versions):
            requires = []
            for _ in range(rng.randint(0, 4)):
                if i + 1 >= packages:
                    break
                j = rng.randint(i + 1, min(packages - 1, i + 40))
                low = rng.randint(0, versions - 5)
                requires.append(f"p{j}>={low}.0,<{low + rng.randint(3, 10)}.0")
            releases[f"{v}.0"] = {"requires": requires, "requires-python": ">=3.8" if v % 7 else ">=3.13"}
        universe[f"p{i}"] = releases
    return universe


def _reads(provider: InMemoryProvider) -> int:
    """How many releases' metadata a resolution read: the resolver's unit of real work (each is
    a download on a live index), counted rather than timed so the bound holds on a busy machine."""
    return sum(1 for call in provider.calls if call[0] == "dependencies")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_few_hundred_packages_resolve_reading_few_releases_per_package(seed: int) -> None:
    # 300 packages of 30 releases each: a resolver that wandered (or backtracked blindly)
    # would read thousands of the 9,000 releases; this one reads about two per package chosen
    provider = InMemoryProvider(_large_universe(seed))
    resolution = resolve([f"p{i}" for i in range(40)], provider, OPTIONS)
    assert len(resolution) > 200
    assert _reads(provider) < 3 * len(resolution), _reads(provider)


def test_many_mutually_incompatible_releases_backtrack_in_one_walk() -> None:
    # the newest `a` and `b` need different `c` over 250 releases: a 250-step walk back, in
    # which each release is read once (not once per conflict learnt)
    count = 300
    universe = {
        "a": {f"{i}.0": {"requires": [f"c=={i}.0"]} for i in range(count)},
        "b": {f"{j}.0": {"requires": [f"c=={max(j - 250, 0)}.0"]} for j in range(count)},
        "c": {f"{k}.0": {} for k in range(count)},
    }
    provider = InMemoryProvider(universe)
    resolution = resolve(["a", "b"], provider, OPTIONS)
    assert resolution.versions() == {"a": Version("49.0"), "b": Version("299.0"), "c": Version("49.0")}
    assert _reads(provider) <= 2 * count, _reads(provider)


def test_an_unsatisfiable_walk_through_many_releases_reads_each_release_once() -> None:
    count = 400
    universe = {
        "boto3": {f"1.{i}.0": {"requires": [f"botocore>=1.{i}.0,<1.{i + 1}.0"]} for i in range(count)},
        "botocore": {f"1.{i}.{p}": {} for i in range(count) for p in range(3)},
    }
    provider = InMemoryProvider(universe)
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(["boto3", "botocore<1.0"], provider, OPTIONS)
    assert _reads(provider) <= count, _reads(provider)
    assert caught.value.report().endswith("we can conclude that your requirements are unsatisfiable.")


def test_a_target_python_without_an_environment_drives_markers_too() -> None:
    universe = {"a": {"1.0": {"requires": ["old-only; python_version < '3.9'", "new-only; python_version >= '3.9'"]}}}
    universe |= {"old-only": {"1.0": {}}, "new-only": {"1.0": {}}}
    resolution = resolve(["a"], InMemoryProvider(universe), ResolverOptions(python=Version("3.8.10")))
    assert set(resolution) == {"a", "old-only"}


def test_upgrade_drops_a_yanked_preference() -> None:
    universe = {"a": {"1.0": {}, "2.0": {"yanked": True}}}
    kept = resolve(["a"], InMemoryProvider(universe), ResolverOptions(python=Version("3.12"), preferences={"a": Version("2.0")}))
    assert kept.versions() == {"a": Version("2.0")}
    assert kept.warnings == ("`a==2.0` is yanked",)
    upgraded = resolve(
        ["a"],
        InMemoryProvider(universe),
        ResolverOptions(python=Version("3.12"), preferences={"a": Version("2.0")}, upgrade=True),
    )
    assert upgraded.versions() == {"a": Version("1.0")}


class TwoIndexProvider(CustomProvider):
    """Lists one version twice, spelled differently, the first listing yanked."""

    def versions(self, name: Any) -> Any:
        return Found(
            (
                Candidate(name, Version("1.0"), yanked=True),
                Candidate(name, Version("1.0.0")),
                Candidate(name, Version("0.9")),
            )
        )

    def dependencies(self, candidate: Candidate) -> Any:
        return Dependencies()


def test_a_version_listed_twice_keeps_its_first_listing() -> None:
    resolution = resolve(["x"], TwoIndexProvider(), OPTIONS)
    assert resolution.versions() == {"x": Version("0.9")}
    pinned = resolve(["x==1.0"], TwoIndexProvider(), OPTIONS)
    assert pinned["x"].candidate.yanked
