"""The index-backed MetadataProvider: candidates per version, chosen files, parallel prefetch."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.requirements import parse_requirement
from pyx_server.engine.index.resolve import resolve_requirements
from pyx_server.engine.resolver import ResolutionImpossible


def run(index, cache_dir, *texts, **kw):
    cache = Cache(cache_dir)
    interpreter = query_interpreter(sys.executable, cache)
    settings = IndexSettings(indexes=(index.url,), find_links=())
    specs = [parse_requirement(t) for t in texts]
    return asyncio.run(resolve_requirements(specs, interpreter, index=settings, cache=cache, **kw))


def test_wide_graph_is_fetched_in_parallel(local_index, cache_dir) -> None:
    index = local_index()
    leaves = [f"leaf{i}" for i in range(8)]
    index.build("root", "1.0", requires_dist=leaves)
    for leaf in leaves:
        index.build(leaf, "1.0")
    index.delay = 0.15
    result = run(index, cache_dir, "root")
    assert sorted(result.resolution) == sorted(["root", *leaves])
    # the leaves' pages and metadata were asked for together, not one after another
    assert index.max_in_flight >= 4


def test_chosen_file_is_the_best_compatible_wheel(local_index, cache_dir, tmp_path) -> None:
    from tests.support.wheels import build_wheel

    index = local_index()
    index.add(build_wheel(tmp_path / "w", "demo", "1.0", tag="py3-none-any"))
    index.add(build_wheel(tmp_path / "w", "demo", "1.0", tag="py2.py3-none-any", build="1"))
    index.add(build_wheel(tmp_path / "w", "demo", "2.0", tag="cp27-cp27m-win32"))
    result = run(index, cache_dir, "demo")
    # 2.0 has no wheel for this interpreter: 1.0 is chosen, and its file is a usable one
    assert str(result.resolution["demo"].version) == "1.0"
    assert result.files["demo"].filename.startswith("demo-1.0")
    assert {f.filename for f in result.all_files["demo"]} >= {"demo-1.0-py3-none-any.whl"}


def test_only_incompatible_wheels_is_explained(local_index, cache_dir, tmp_path) -> None:
    from tests.support.wheels import build_wheel

    index = local_index()
    index.add(build_wheel(tmp_path / "w", "winonly", "1.0", tag="cp27-cp27m-win32"))
    with pytest.raises(ResolutionImpossible) as exc:
        run(index, cache_dir, "winonly")
    assert "matching platform tag" in exc.value.message


def test_missing_package_and_invalid_metadata(local_index, cache_dir) -> None:
    index = local_index()
    index.build("app", "1.0", requires_dist=["ghost"])
    with pytest.raises(ResolutionImpossible) as exc:
        run(index, cache_dir, "app")
    assert "ghost" in exc.value.message and "not found" in exc.value.message


def test_exclude_newer_reads_upload_times_from_the_index(local_index, cache_dir) -> None:
    from datetime import datetime, timezone

    from pyx_server.engine.index.resolve import ResolveOptions

    index = local_index(cache_control=None, etag=False)
    index.build("demo", "1.0", index_options={"upload_time": "2024-01-01T00:00:00Z"})
    index.build("demo", "2.0", index_options={"upload_time": "2024-06-01T00:00:00.5Z"})
    cutoff = ResolveOptions(exclude_newer=datetime(2024, 3, 1, tzinfo=timezone.utc))
    for _ in range(2):  # parsed from the page, then from the stored parse of the same page
        assert str(run(index, cache_dir, "demo", options=cutoff).resolution["demo"].version) == "1.0"
        assert str(run(index, cache_dir, "demo").resolution["demo"].version) == "2.0"
