"""Plan, then act: partitioning requirements against what is installed, and the Plan itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

from pyx_server.engine.errors import InvalidRequirement
from pyx_server.engine.install.plan import WheelSource, make_plan, partition
from pyx_server.engine.requirements import parse_requirement

MARKERS = {"sys_platform": "linux", "python_version": "3.11", "python_full_version": "3.11.4"}


@dataclass(frozen=True)
class Dist:
    name: str
    version: Version
    direct_url: dict | None = None
    dist_info: Path = Path("/nowhere")


def installed(**versions: str) -> dict[str, Dist]:
    return {name.replace("_", "-"): Dist(name.replace("_", "-"), Version(v)) for name, v in versions.items()}


def reqs(*texts: str):
    return [parse_requirement(t) for t in texts]


def test_satisfied_pins_are_unchanged_and_missing_are_installed() -> None:
    part = partition(reqs("a==1.0", "b==2.0"), installed(a="1.0", b="1.0"), markers=MARKERS, exact=False)
    assert [d.name for d in part.unchanged] == ["a"]
    assert [s.name for s in part.to_install] == ["b"]
    assert part.extraneous == ()


def test_exact_sync_lists_extraneous() -> None:
    part = partition(reqs("a==1.0"), installed(a="1.0", zed="3", pip="23"), markers=MARKERS, exact=True)
    assert [d.name for d in part.extraneous] == ["pip", "zed"]
    part = partition(reqs("a==1.0"), installed(a="1.0", zed="3"), markers=MARKERS, exact=False)
    assert part.extraneous == ()


def test_marker_excluded_requirements_are_skipped_and_extraneous_in_sync() -> None:
    part = partition(
        reqs("a==1.0", "colorama==0.4 ; sys_platform == 'win32'"),
        installed(colorama="0.4"),
        markers=MARKERS,
        exact=True,
    )
    assert [s.name for s in part.skipped] == ["colorama"]
    assert [d.name for d in part.extraneous] == ["colorama"]


def test_reinstall_all_or_some() -> None:
    have = installed(a="1.0", b="1.0")
    assert len(partition(reqs("a==1.0", "b==1.0"), have, markers=None, exact=False, reinstall=True).to_install) == 2
    part = partition(reqs("a==1.0", "b==1.0"), have, markers=None, exact=False, reinstall=frozenset({"b"}))
    assert [s.name for s in part.to_install] == ["b"]


def test_url_requirement_satisfied_only_by_same_url() -> None:
    url = "https://example.invalid/a-1.0-py3-none-any.whl"
    from_url = {"a": Dist("a", Version("1.0"), {"url": url, "archive_info": {}})}
    assert partition(reqs(f"a @ {url}"), from_url, markers=None, exact=False).unchanged
    assert partition(reqs(f"a @ {url}"), installed(a="1.0"), markers=None, exact=False).to_install
    # and a registry pin is not satisfied by a dist installed from a URL
    assert partition(reqs("a==1.0"), from_url, markers=None, exact=False).to_install


def test_duplicate_requirements_are_intersected() -> None:
    part = partition(reqs("a>=1", "a<2"), {}, markers=None, exact=False)
    assert len(part.to_install) == 1
    assert str(part.to_install[0].requirement.specifier) == "<2,>=1"
    with pytest.raises(InvalidRequirement, match="twice"):
        partition(
            reqs("a @ https://example.invalid/a-1-py3-none-any.whl", "a @ https://example.invalid/a-2-py3-none-any.whl"),
            {},
            markers=None,
            exact=False,
        )


def _source(name: str, version: str, sha: str) -> WheelSource:
    return WheelSource(name, Version(version), f"{name}-{version}-py3-none-any.whl", None, None, "http://x", sha256=sha)


def test_make_plan_sorts_cached_and_remote_and_lists_replacements(tmp_path: Path) -> None:
    have = installed(a="0.9", keep="1")
    part = partition(reqs("a==1.0", "b==1.0", "keep==1"), have, markers=None, exact=True)
    archives = {"aaa": tmp_path}
    plan = make_plan(
        part,
        [_source("a", "1.0", "aaa"), _source("b", "1.0", "bbb")],
        have,
        archive_for=lambda s: archives.get(s.sha256),
    )
    assert [p.source.name for p in plan.cached] == ["a"]
    assert [p.source.name for p in plan.remote] == ["b"]
    assert [d.name for d in plan.reinstall] == ["a"]
    assert [d.name for d in plan.unchanged] == ["keep"]
    assert not plan.is_noop
    assert plan.to_dict()["remote"] == [{"name": "b", "version": "1.0", "filename": "b-1.0-py3-none-any.whl"}]
