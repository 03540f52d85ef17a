"""VersionSet: PEP 440 specifiers as interval sets, checked against packaging and brute force."""

from __future__ import annotations

import random

import packaging
import pytest
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

from pyx_server.engine.resolver.ranges import VersionSet

BASES = ["0", "1", "1.0", "1.0.0", "1.1", "1.2.3", "2", "2.0", "0.9", "1!1.0"]
SUFFIXES = ["", "a1", "b2", "rc1", ".post1", ".dev0", ".dev3", "a1.dev1", ".post2.dev1", "a1.post1", "rc1.post1.dev2"]
LOCALS = ["", "+cpu", "+1", "+abc.5"]
VERSIONS = [Version(b + s + l) for b in BASES for s in SUFFIXES for l in LOCALS]
OPERATORS = ["==", "!=", ">=", "<=", ">", "<", "~="]


def _specifiers() -> list[str]:
    out = []
    for base in BASES:
        out.append(f"=={base}.*")
        out.append(f"!={base}.*")
        for suffix in SUFFIXES:
            for op in OPERATORS:
                if op == "~=" and "." not in base:
                    continue
                out.append(f"{op}{base}{suffix}")
            out.append(f"=={base}{suffix}+cpu")
            out.append(f"!={base}{suffix}+cpu")
    return out


SPECIFIERS = _specifiers()


@pytest.mark.skipif(int(packaging.__version__.split(".")[0]) < 26, reason="packaging 26 defines the exact interval semantics")
def test_every_operator_agrees_with_packaging() -> None:
    mismatches = []
    for text in SPECIFIERS:
        specifier = Specifier(text)
        versions = VersionSet.from_specifier(specifier)
        for version in VERSIONS:
            if (version in versions) != specifier.contains(version, prereleases=True):
                mismatches.append((text, str(version)))
    assert mismatches == []


@pytest.mark.parametrize(
    ("specifier", "inside", "outside"),
    [
        ("==1.0", ["1.0", "1.0.0", "1.0+cpu", "1.0+cu121.x"], ["1.0.post1", "1.0rc1", "1.0.1"]),
        ("!=1.0", ["0.9", "1.0.post1", "1.0.1", "1.0rc1"], ["1.0", "1.0+cpu"]),
        ("==1.0+cpu", ["1.0+cpu"], ["1.0", "1.0+gpu"]),
        ("<2.0", ["1.9", "1.9.post3"], ["2.0rc1", "2.0.dev0", "2.0"]),
        ("<2.0rc1", ["2.0b1", "2.0.dev0"], ["2.0rc1", "2.0"]),
        (">1.0", ["1.0.1", "1.1a1"], ["1.0", "1.0+cpu", "1.0.post1"]),
        (">1.0.post1", ["1.0.post2"], ["1.0.post1", "1.0.post1+x"]),
        (">=1.0", ["1.0", "1.0+cpu", "1.0.post1"], ["1.0rc1"]),
        ("<=1.0", ["1.0", "1.0+cpu", "1.0rc1"], ["1.0.post1"]),
        ("==1.*", ["1.0", "1.9.9", "1.0a1", "1.dev0"], ["0.9", "2.0.dev1", "2.0"]),
        ("!=1.0.*", ["0.9", "1.1", "1.1.dev0"], ["1.0", "1.0.5", "1.0rc1"]),
        ("~=1.4.5", ["1.4.5", "1.4.9"], ["1.4.4", "1.5.0", "1.5.0a1"]),
        ("~=2.2", ["2.2", "2.9"], ["2.1", "3.0", "3.0.dev0"]),
        ("===1.0", ["1.0"], ["1.0+local", "1.1"]),
    ],
)
def test_pep440_rules(specifier: str, inside: list[str], outside: list[str]) -> None:
    versions = VersionSet.from_specifier_set(specifier)
    assert [v for v in inside if Version(v) not in versions] == []
    assert [v for v in outside if Version(v) in versions] == []


def test_equal_sets_are_equal_whatever_their_spelling() -> None:
    assert VersionSet.from_specifier_set("<=1.0") == VersionSet.from_specifier_set("<1.0.post0.dev0")
    assert VersionSet.from_specifier_set(">1.0a1") == VersionSet.from_specifier_set(">=1.0a2.dev0")
    assert VersionSet.from_specifier_set(">=1,<1").is_empty()
    assert VersionSet.from_specifier_set("<0.dev0").is_empty()
    assert VersionSet.from_specifier_set("") == VersionSet.full()
    assert hash(VersionSet.from_specifier_set("<=1.0")) == hash(VersionSet.from_specifier_set("<1.0.post0.dev0"))


def _random_set(rng: random.Random) -> VersionSet:
    texts = rng.sample(SPECIFIERS, rng.randint(0, 3))
    result = VersionSet.from_specifier_set(",".join(texts))
    if rng.random() < 0.3:
        result = result.union(VersionSet.from_specifier(rng.choice(SPECIFIERS)))
    if rng.random() < 0.2:
        result = result.complement()
    return result


def _long_set(rng: random.Random) -> VersionSet:
    """A union of many exact pins and small ranges: long interval lists take other code paths."""
    narrow = [s for s in SPECIFIERS if s.startswith("==")]
    result = VersionSet.empty()
    for _ in range(rng.randint(9, 20)):
        result = result.union(VersionSet.from_specifier(rng.choice(narrow)))
        result = result.union(VersionSet.exact(rng.choice(VERSIONS)))
    return result.complement() if rng.random() < 0.3 else result


@pytest.mark.parametrize("shape", ["short", "long-short", "long-long"])
def test_algebra_agrees_with_membership(shape: str) -> None:
    rng = random.Random(7)
    assert len(_long_set(random.Random(1)).segments) > 8
    for _ in range(300 if shape == "short" else 120):
        if shape == "short":
            a, b = _random_set(rng), _random_set(rng)
        elif shape == "long-short":
            a, b = _long_set(rng), _random_set(rng)
            if rng.random() < 0.5:
                a, b = b, a
        else:
            a, b = _long_set(rng), _long_set(rng)
        both, either, not_a, a_not_b = a.intersection(b), a.union(b), a.complement(), a.difference(b)
        for version in VERSIONS:
            in_a, in_b = version in a, version in b
            assert (version in both) == (in_a and in_b)
            assert (version in either) == (in_a or in_b)
            assert (version in not_a) == (not in_a)
            assert (version in a_not_b) == (in_a and not in_b)
        assert a.is_subset(b) == a_not_b.is_empty()
        assert a.is_disjoint(b) == both.is_empty()
        assert a.intersection(b) == b.intersection(a)
        assert a.complement().complement() == a
        assert (a == b) == (a.is_subset(b) and b.is_subset(a))


@pytest.mark.parametrize(
    "text",
    [">=1.0", "<2.0", "==1.0", "!=1.0", "==1.*", "!=1.0.*", "<=1.0", ">1.0", ">1.0.post2", ">1.0a1", "==1.0+cpu"],
)
def test_printing_round_trips(text: str) -> None:
    versions = VersionSet.from_specifier_set(text)
    assert str(versions) == text
    assert VersionSet.from_specifier_set(str(versions)) == versions


def test_printing_combines_bounds_and_holes() -> None:
    versions = VersionSet.from_specifier_set(">1.0,!=2.0a5,!=2.0a6,<2.0b5")
    assert str(versions) == ">1.0,<2.0b5,!=2.0a5,!=2.0a6"
    assert VersionSet.from_specifier_set(str(versions)) == versions
    assert str(VersionSet.from_specifier_set("~=1.4.5")) == ">=1.4.5,<1.5"
    assert str(VersionSet.full()) == "*"
    assert str(VersionSet.empty()) == "∅"


def test_printing_splits_sets_that_are_not_one_specifier() -> None:
    versions = VersionSet.from_specifier_set("<1").union(VersionSet.from_specifier_set(">=3"))
    assert versions.specifier_strings() == ["<1", ">=3"]


def test_singleton_and_exact() -> None:
    assert VersionSet.from_specifier_set("==1.0").singleton() == Version("1.0")
    assert VersionSet.exact(Version("1.0")).singleton() == Version("1.0")
    assert Version("1.0+cpu") not in VersionSet.exact(Version("1.0"))
    assert VersionSet.from_specifier_set(">=1.0").singleton() is None
    assert VersionSet.from_specifier_set("==1.*").singleton() is None


def test_between_is_the_open_gap() -> None:
    gap = VersionSet.between(Version("1.0"), Version("2.0"))
    assert Version("1.0") not in gap and Version("2.0") not in gap
    assert Version("1.0+local") in gap and Version("1.5") in gap and Version("2.0rc1") in gap
    assert VersionSet.between(None, None).is_full()


def test_index_ranges_slices_a_sorted_list() -> None:
    from pyx_server.engine.resolver.cuts import version_position

    versions = [Version(v) for v in ["0.9", "1.0", "1.0+cpu", "1.5", "2.0", "3.0"]]
    positions = [version_position(v) for v in versions]
    allowed = VersionSet.from_specifier_set("==1.0").union(VersionSet.from_specifier_set(">=2"))
    assert allowed.index_ranges(positions) == [(1, 3), (4, 6)]
    assert VersionSet.from_specifier_set(">=5").index_ranges(positions) == []


def test_specifier_set_objects_and_strings_agree() -> None:
    assert VersionSet.from_specifier_set(SpecifierSet(">=1,<2")) == VersionSet.from_specifier_set(">=1,<2")
