"""PubGrub's core on its own: the term algebra and the state machine, with hand-made facts."""

from __future__ import annotations

import random

import pytest
from packaging.version import Version

from pyx_server.engine.resolver.pubgrub import (
    DEPENDENCY,
    DERIVED,
    NO_VERSIONS,
    Incompatibility,
    NoSolution,
    State,
    Term,
)
from pyx_server.engine.resolver.ranges import VersionSet

SAMPLE = [Version(v) for v in ["0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "4.0"]]
SETS = [VersionSet.from_specifier_set(s) for s in ["", ">=1", "<2", ">=1.5,<3", "==2.0", "!=2.0", ">=5", "<0.1"]]


def _holds(term: Term, version: Version | None) -> bool:
    """A term's truth for one assignment (``None``: the package is not selected)."""
    if version is None:
        return not term.positive
    return (version in term.set) == term.positive


@pytest.mark.parametrize("operation", ["intersect", "union"])
def test_term_algebra_agrees_with_truth_tables(operation: str) -> None:
    rng = random.Random(3)
    for _ in range(300):
        a = Term(rng.random() < 0.5, rng.choice(SETS))
        b = Term(rng.random() < 0.5, rng.choice(SETS))
        combined = getattr(a, operation)(b)
        for version in [None, *SAMPLE]:
            expected = (_holds(a, version) and _holds(b, version)) if operation == "intersect" else (
                _holds(a, version) or _holds(b, version)
            )
            assert _holds(combined, version) == expected, (a, b, version)
        assert _holds(a.negate(), None) != _holds(a, None)


def test_any_term() -> None:
    assert Term(False, VersionSet.empty()).is_any()
    assert not Term(False, VersionSet.full()).is_any()
    assert not Term(True, VersionSet.empty()).is_any()


def _dependency(state: State, package: str, versions: str, dependency: str, required: str) -> None:
    state.add_dependencies(
        package, VersionSet.from_specifier_set(versions), [(dependency, VersionSet.from_specifier_set(required), ())]
    )


def test_propagation_derives_what_must_hold() -> None:
    state = State("root", Version("0"))
    state.propagate("root")
    _dependency(state, "root", "==0", "a", ">=1")
    state.decide("root", Version("0"))
    state.propagate("root")
    term = state.term_of("a")
    assert term is not None and term.positive and term.set == VersionSet.from_specifier_set(">=1")
    assert dict(state.pending()) == {"a": VersionSet.from_specifier_set(">=1")}


def test_a_conflict_is_learned_and_backjumped() -> None:
    state = State("root", Version("0"))
    state.propagate("root")
    _dependency(state, "root", "==0", "a", "")
    _dependency(state, "root", "==0", "b", "")
    state.decide("root", Version("0"))
    state.propagate("root")
    # a 2 needs b < 1; b only has 1.0
    _dependency(state, "a", "==2", "b", "<1")
    state.add(Incompatibility({"b": Term(True, VersionSet.from_specifier_set("<1"))}, NO_VERSIONS))
    state.decide("a", Version("2"))
    conflicts = state.propagate("a")
    assert conflicts, "deciding a==2 ran into b's facts"
    term = state.term_of("a")
    assert term is not None and Version("2") not in term.set
    # the learned fact is about `a` alone, so it holds from level 0: everything was undone
    assert "a" not in state.decided()
    assert state.level == 0


def test_no_solution_carries_the_derivation() -> None:
    state = State("root", Version("0"))
    state.propagate("root")
    _dependency(state, "root", "==0", "a", ">=2")
    state.add(Incompatibility({"a": Term(True, VersionSet.from_specifier_set(">=2"))}, NO_VERSIONS))
    state.decide("root", Version("0"))
    with pytest.raises(NoSolution) as caught:
        state.propagate("root")
    root_cause = caught.value.incompatibility
    assert root_cause.kind == DERIVED
    assert set(root_cause.terms) == {"root"}
    kinds = {root_cause.cause1.kind, root_cause.cause2.kind}  # type: ignore[union-attr]
    assert kinds == {DEPENDENCY, NO_VERSIONS}


def test_dependencies_of_neighbouring_versions_merge() -> None:
    state = State("root", Version("0"))
    first = state.add_dependencies(
        "a", VersionSet.between(None, Version("2")), [("b", VersionSet.from_specifier_set(">=1"), ())]
    )[0]
    second = state.add_dependencies(
        "a", VersionSet.between(Version("1"), Version("3")), [("b", VersionSet.from_specifier_set(">=1"), ())]
    )[0]
    assert second is not first
    assert second.terms["a"].set == VersionSet.between(None, Version("3"))
    other = state.add_dependencies(
        "a", VersionSet.between(Version("2"), None), [("b", VersionSet.from_specifier_set(">=2"), ())]
    )[0]
    assert other.terms["a"].set == VersionSet.between(Version("2"), None)


def test_a_requirement_nothing_satisfies_forbids_the_dependent() -> None:
    state = State("root", Version("0"))
    added = state.add_dependencies("a", VersionSet.full(), [("b", VersionSet.empty(), ("b>2", "b<1"))])
    assert list(added[0].terms) == ["a"]
    assert added[0].dependency() == ("a", "b", VersionSet.empty())
