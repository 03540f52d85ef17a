"""Choosing the file to install for a pin: yanked, Requires-Python, tags, pre-releases, hashes."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from pyx_server.engine.errors import NoMatchingDistribution
from pyx_server.engine.install.selector import select_file
from pyx_server.engine.index.distfile import DistFile

PY = Version("3.11.4")
SUPPORTED = {Tag("cp311", "cp311", "manylinux_2_17_x86_64"): 0, Tag("py3", "none", "any"): 10}


def rank(tags):
    ranks = [SUPPORTED[t] for t in tags if t in SUPPORTED]
    return min(ranks) if ranks else None


def f(filename: str, **kw) -> DistFile:
    return DistFile(filename=filename, url=f"http://127.0.0.1/{filename}", index="http://127.0.0.1/simple", **kw)


def pick(files, spec: str, **kw):
    return select_file("demo", files, SpecifierSet(spec), python_version=PY, tag_rank=rank, **kw).file.filename


def test_highest_version_then_best_tag() -> None:
    files = [
        f("demo-1.0-py3-none-any.whl"),
        f("demo-2.0-py3-none-any.whl"),
        f("demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        f("demo-2.0.tar.gz"),
        f("demo-3.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
    ]
    assert pick(files, "") == "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert pick(files, "<2") == "demo-1.0-py3-none-any.whl"


def test_yanked_skipped_unless_pinned() -> None:
    files = [f("demo-1.0-py3-none-any.whl"), f("demo-1.1-py3-none-any.whl", yanked=True, yanked_reason="bad")]
    assert pick(files, ">=1") == "demo-1.0-py3-none-any.whl"
    assert pick(files, "==1.1") == "demo-1.1-py3-none-any.whl"
    with pytest.raises(NoMatchingDistribution) as exc:
        pick(files, ">1.0")
    assert any("yanked" in h for h in exc.value.hints)


def test_requires_python_excludes_and_explains() -> None:
    files = [f("demo-1.0-py3-none-any.whl"), f("demo-2.0-py3-none-any.whl", requires_python=">=3.12")]
    assert pick(files, "") == "demo-1.0-py3-none-any.whl"
    with pytest.raises(NoMatchingDistribution) as exc:
        pick(files, "==2.0")
    assert any("3.11.4" in h and ">=3.12" in h for h in exc.value.hints)


def test_prereleases_follow_pep440() -> None:
    files = [f("demo-1.0-py3-none-any.whl"), f("demo-2.0b1-py3-none-any.whl")]
    assert pick(files, "") == "demo-1.0-py3-none-any.whl"
    assert pick(files, "", prereleases=True) == "demo-2.0b1-py3-none-any.whl"
    assert pick(files, ">=2.0b1") == "demo-2.0b1-py3-none-any.whl"
    # nothing final satisfies: a pre-release is taken
    assert pick([f("demo-2.0b1-py3-none-any.whl")], ">=1") == "demo-2.0b1-py3-none-any.whl"


def test_no_compatible_wheel_lists_what_exists() -> None:
    files = [f("demo-1.0-cp39-cp39-win_amd64.whl"), f("demo-1.0.tar.gz")]
    with pytest.raises(NoMatchingDistribution) as exc:
        pick(files, "==1.0")
    text = " ".join(exc.value.hints)
    assert "win_amd64" in text and "source" in text
    assert "`demo==1.0`" in exc.value.message


def test_no_version_matches_lists_available() -> None:
    with pytest.raises(NoMatchingDistribution) as exc:
        pick([f("demo-1.0-py3-none-any.whl")], "==9")
    assert "no version of `demo` matches" in exc.value.message
    assert "1.0" in exc.value.hints[0]


def test_hashes_restrict_candidates() -> None:
    good, bad = "1" * 64, "2" * 64
    files = [
        f("demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", hashes={"sha256": bad}),
        f("demo-1.0-py3-none-any.whl", hashes={"sha256": good}),
    ]
    assert pick(files, "==1.0", allowed_hashes={"sha256": (good,)}) == "demo-1.0-py3-none-any.whl"
    with pytest.raises(NoMatchingDistribution) as exc:
        pick(files, "==1.0", allowed_hashes={"sha256": ("3" * 64,)})
    assert any("hashes" in h for h in exc.value.hints)


def test_local_version_matches_pin() -> None:
    assert pick([f("demo-1.0+cpu-py3-none-any.whl")], "==1.0") == "demo-1.0+cpu-py3-none-any.whl"
