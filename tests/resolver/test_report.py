"""The explanation formatter: wording rules that the case snapshots rely on, checked directly."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from pyx_server.engine.resolver import InMemoryProvider, ResolutionImpossible, ResolverOptions, resolve
from pyx_server.engine.resolver.candidates import CandidateSelector
from pyx_server.engine.resolver.dependencies import PYTHON_PKG, Pkg
from pyx_server.engine.resolver.provider import Candidate
from pyx_server.engine.resolver.ranges import VersionSet
from pyx_server.engine.resolver.phrases import RangeText, ReportContext, available_text

OPTIONS = ResolverOptions(python=Version("3.11.4"))


def _failure(requested: list[str], universe: dict[str, Any], **options: Any) -> ResolutionImpossible:
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(requested, InMemoryProvider(universe), ResolverOptions(python=Version("3.11.4"), **options))
    return caught.value


def _context(name: str, versions: list[str]) -> ReportContext:
    selector = CandidateSelector(
        OPTIONS, Version("3.11.4"), explicit_prereleases=frozenset(), allowed_yanks={}, direct_names=frozenset()
    )
    listing = selector.classify(name, [Candidate(name, Version(v)) for v in versions])  # type: ignore[arg-type]
    return ReportContext(python=Version("3.11.4"), packages={name: listing})


@pytest.mark.parametrize(
    ("specifier", "text", "plural"),
    [
        ("", "all versions of a", True),
        (">=1.0", "all versions of a", True),
        ("==2.0", "a==2.0", False),
        (">=2.0", "a>=2.0", False),
        ("<2.0", "a<=1.5", False),
        (">=1.5,<3", "a>=1.5,<=2.0", False),
        ("!=2.0", "a!=2.0", False),
    ],
)
def test_versions_of_a_package_print_against_the_versions_that_exist(specifier: str, text: str, plural: bool) -> None:
    context = _context("a", ["1.0", "1.5", "2.0", "3.0"])
    rendered = RangeText(context, Pkg("a"), VersionSet.from_specifier_set(specifier))
    assert rendered.text() == text
    assert rendered.plural == plural


def test_separate_runs_are_listed() -> None:
    context = _context("a", ["1.0", "1.5", "2.0", "3.0"])
    versions = VersionSet.from_specifier_set("<1.2").union(VersionSet.from_specifier_set(">=3"))
    rendered = RangeText(context, Pkg("a"), versions)
    assert rendered.text() == "a==1.0 and a==3.0"
    assert rendered.plural


def test_a_package_with_one_version_is_named_by_it() -> None:
    context = _context("a", ["1.0"])
    assert RangeText(context, Pkg("a"), VersionSet.full()).text() == "a==1.0"


@pytest.mark.parametrize(
    ("known", "missing", "text"),
    [
        (["1.0", "2.0"], "", "there are no versions of a"),
        (["1.0", "2.0"], "==9", "there is no version of a==9"),
        (["0.5", "1.0", "2.0"], ">2.0", "only a<=2.0 is available"),
        (["1.5", "2.0"], "<1.5", "only a>=1.5 is available"),
        (["1.0", "2.0", "3.0"], ">1.0,<3.0", "only a==1.0 and a==3.0 are available"),
        (["1.0"], ">=2", "only a==1.0 is available"),
    ],
)
def test_missing_versions_are_told_as_what_is_available(known: list[str], missing: str, text: str) -> None:
    assert available_text(_context("a", known), Pkg("a"), VersionSet.from_specifier_set(missing)) == text


def test_python_is_the_current_python() -> None:
    context = ReportContext(python=Version("3.9.1"))
    only_current = VersionSet.exact(Version("3.9.1")).complement()
    assert available_text(context, PYTHON_PKG, only_current) == "the current Python version is 3.9.1"
    assert (
        available_text(context, PYTHON_PKG, only_current, VersionSet.from_specifier_set(">=3.10"))
        == "the current Python version (3.9.1) does not satisfy Python>=3.10"
    )


def test_extras_proxies_are_left_out() -> None:
    error = _failure(
        ["a[x]", "b>=2"],
        {"a": {"1.0": {"extras": {"x": ["b<2"]}}}, "b": {"1.0": {}, "2.0": {}}},
    )
    report = error.report()
    assert "a[x]==1.0 depends on b<2" in report
    assert "depends on a==1.0" not in report


def test_a_walk_through_many_releases_is_one_sentence() -> None:
    universe = {
        "boto3": {f"1.{i}.0": {"requires": [f"botocore>=1.{i}.0,<1.{i + 1}.0"]} for i in range(60)},
        "botocore": {f"1.{i}.0": {} for i in range(60)},
    }
    report = _failure(["boto3", "botocore<1.0"], universe).report()
    assert len(report.splitlines()) <= 3, report
    assert "and so on for 57 more versions of boto3" in report
    assert report.endswith("your requirements are unsatisfiable.")


def test_a_long_derived_union_is_stated_over_existing_versions() -> None:
    from pyx_server.engine.resolver.phrases import Formatter

    pins = VersionSet.empty()
    for minor in range(8):
        pins = pins.union(VersionSet.from_specifier_set(f"==1.{minor}.0"))
    known = [f"1.{minor}.0" for minor in range(8)]
    formatter = Formatter(_context("botocore", known))
    assert formatter.required(Pkg("botocore"), pins) == "botocore>=1.0.0,<=1.7.0"
    # without a listing: the ends and a count
    bare = Formatter(ReportContext(python=Version("3.11.4")))
    assert bare.required(Pkg("botocore"), pins) == "one of botocore==1.0.0 … botocore==1.7.0 (8 ranges)"
    # short unions stay as written
    assert bare.required(Pkg("b"), VersionSet.from_specifier_set("<1").union(VersionSet.from_specifier_set(">=3"))) == (
        "b<1 or b>=3"
    )


#: two versions of ``foo``, each failing on a conflict of its own: a report of two branches
TWO_BRANCHES = {
    "foo": {
        "1.0.0": {"requires": ["a>=1,<2", "b>=1,<2"]},
        "1.1.0": {"requires": ["x>=1,<2", "y>=1,<2"]},
    },
    "a": {"1.0.0": {"requires": ["b>=2,<3"]}},
    "b": {"1.0.0": {}, "2.0.0": {}},
    "x": {"1.0.0": {"requires": ["y>=2,<3"]}},
    "y": {"1.0.0": {}, "2.0.0": {}},
}


def test_shared_conclusions_are_numbered_once_and_cited() -> None:
    report = _failure(["foo>=1,<2"], TWO_BRANCHES).report()
    assert report.count("(1)") == 2  # once where it is concluded, once where it is cited
    assert "we know from (1) that" in report
    assert "\n\n" in report  # the two branches are separate paragraphs


def test_the_tree_is_json_data_with_unique_step_ids() -> None:
    tree = _failure(["foo>=1,<2"], TWO_BRANCHES).tree()
    steps = tree["steps"]
    assert len(steps) >= 5
    assert steps[0]["id"] == tree["root"]
    assert steps[0]["terms"] == [{"package": "your requirements", "positive": True, "versions": "==0"}]
    ids = [step["id"] for step in steps]
    assert all(cause in ids for step in steps for cause in step.get("causes", []))
    assert len(ids) == len(set(ids))


def test_a_derivation_thousands_of_steps_deep_is_reported_and_serialized() -> None:
    import json

    count = 1500
    universe = {
        "boto3": {f"1.{i}.0": {"requires": [f"botocore>=1.{i}.0,<1.{i + 1}.0"]} for i in range(count)},
        "botocore": {f"1.{i}.0": {} for i in range(count)},
    }
    error = _failure(["boto3", "botocore<1.0"], universe)
    assert len(error.report().splitlines()) <= 3
    assert f"and so on for {count - 3} more versions of boto3" in error.report()
    assert len(json.loads(json.dumps(error.to_dict()))["derivation"]["steps"]) > count
