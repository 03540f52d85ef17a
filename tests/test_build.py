"""PEP 517 / 660 builds: archives, static metadata, isolated environments, real backends, failures.

Real setuptools and hatchling wheels come from ``tests/.wheels`` (``scripts/test`` downloads
them once) and are served by a local index on 127.0.0.1; nothing reaches the network. The
build cache is shared by the whole session (one per xdist worker) so the setuptools and
hatchling build environments are made once; tests that count environment creations or
installer calls use their own fresh cache.
"""

from __future__ import annotations

import asyncio
import os
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from pyx_server.engine import build
from pyx_server.engine.build import archive, hooks, isolation, source
from pyx_server.engine.cache import Cache
from pyx_server.engine.errors import BuildError, InvalidSdist, UsageError
from pyx_server.engine.hashing import sha256_file
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.progress import CollectingReporter, Notice, PhaseFinished, PhaseStarted
from tests.support.backends import (
    WHEELHOUSE,
    WheelhouseInstaller,
    hatchling_project,
    legacy_project,
    make_sdist,
    mini_project,
    setuptools_project,
    symlink_member,
    wheelhouse,
    write_tree,
)
from tests.support.index_server import LocalIndex, build_sdist
from tests.support.wheels import build_wheel as make_test_wheel

# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def backend_wheels():
    wheels = wheelhouse() if WHEELHOUSE.is_dir() else {}
    if not {"setuptools", "hatchling"} <= set(wheels):
        message = "tests/.wheels lacks setuptools/hatchling wheels: run scripts/test (it downloads them once)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI runs scripts/test, which must have fetched them
        pytest.skip(message)
    return wheels


@pytest.fixture(scope="session")
def session_index(tmp_path_factory, backend_wheels):
    """A local index serving the backend wheels plus two tiny helper wheels, for the session."""
    index = LocalIndex(tmp_path_factory.mktemp("build-index")).start()
    for path in backend_wheels.values():
        index.add(path)
    extra = tmp_path_factory.mktemp("helper-wheels")
    for name in ("build-helper", "extra-helper"):
        index.add(make_test_wheel(extra, name, "1.0"))
    yield index
    index.close()


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Cache:
    return Cache(tmp_path_factory.mktemp("build-cache"))


@pytest.fixture(scope="session")
def interpreter(session_cache):
    return query_interpreter(Path(sys.executable), session_cache)


@pytest.fixture(scope="session")
def helper_wheels(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("helper-house")
    return {
        canonicalize_name(n): make_test_wheel(directory, n, "1.0") for n in ("build-helper", "extra-helper")
    }


@pytest.fixture(scope="session")
def installer(session_index, session_cache, backend_wheels, helper_wheels) -> WheelhouseInstaller:
    return WheelhouseInstaller({**backend_wheels, **helper_wheels}, session_index.url, session_cache)


@pytest.fixture
def fresh(tmp_path, session_index, backend_wheels, helper_wheels):
    """A fresh cache and an installer that fills build environments in it."""
    cache = Cache(tmp_path / "cache")
    return cache, WheelhouseInstaller({**backend_wheels, **helper_wheels}, session_index.url, cache)


@pytest.fixture
def spawns(monkeypatch) -> list[list[str]]:
    """Every hook process started (its command line)."""
    started: list[list[str]] = []
    real = hooks._spawn

    def counting(cmd, cwd, env):
        started.append(list(cmd))
        return real(cmd, cwd, env)

    monkeypatch.setattr(hooks, "_spawn", counting)
    return started


def run(coro):
    return asyncio.run(coro)


def hook_names(spawned: list[list[str]]) -> list[str]:
    return [cmd[2] for cmd in spawned]


# -- archives ----------------------------------------------------------------------------------------


def test_extracts_the_single_top_directory(tmp_path):
    sdist = make_sdist(tmp_path, "demo", "1.0", {"setup.py": "x = 1\n", "pkg/mod.py": "y = 2\n"})
    top = archive.extract_sdist(sdist, tmp_path / "out")
    assert top == tmp_path / "out" / "demo-1.0"
    assert (top / "pkg" / "mod.py").read_text() == "y = 2\n"


def test_zip_sdists_are_read_too(tmp_path):
    sdist = make_sdist(tmp_path, "demo", "1.0", {"PKG-INFO": "Metadata-Version: 2.2\nName: demo\nVersion: 1.0\n"}, fmt="zip")
    contents = archive.inspect_sdist(sdist)
    assert contents.top == "demo-1.0"
    assert archive.read_member(sdist, contents, "PKG-INFO").startswith(b"Metadata-Version: 2.2")
    assert archive.read_member(sdist, contents, "setup.py") is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (("demo-1.0/../../evil.txt", b"owned"), "`..`"),
        (("../evil.txt", b"owned"), "`..`"),
        (("/tmp/evil.txt", b"owned"), "absolute"),
        (symlink_member("demo-1.0/link", "../../../etc/passwd"), "link out"),
        (symlink_member("demo-1.0/abs", "/etc/passwd"), "absolute path"),
    ],
    ids=["dotdot-inside", "dotdot-top", "absolute", "symlink-out", "symlink-absolute"],
)
def test_malicious_members_are_refused(tmp_path, raw, why):
    sdist = make_sdist(tmp_path / "in", "demo", "1.0", {"setup.py": ""}, raw_members=[raw])
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(InvalidSdist) as caught:
        archive.extract_sdist(sdist, out)
    assert caught.value.code == "invalid-sdist"
    assert why in caught.value.message and "`demo-1.0.tar.gz`" in caught.value.message
    assert not out.exists()
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_malicious_zip_member_is_refused(tmp_path):
    sdist = make_sdist(tmp_path, "demo", "1.0", {"setup.py": ""}, fmt="zip", raw_members=[("demo-1.0/../../x.py", b"")])
    with pytest.raises(InvalidSdist, match="`..`"):
        archive.extract_sdist(sdist, tmp_path / "out")


def test_a_malicious_sdist_is_refused_before_any_build(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "demo", "1.0", mini_project("demo", "1.0"), raw_members=[("demo-1.0/../../../pwned", b"x")])

    async def never(env, requirements):  # pragma: no cover - must not be reached
        raise AssertionError("installer called")

    cache = Cache(tmp_path / "cache")
    with pytest.raises(InvalidSdist):
        run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=never))
    with pytest.raises(InvalidSdist):
        run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=never))
    assert spawns == []


def test_more_than_one_top_directory_is_refused(tmp_path):
    sdist = make_sdist(tmp_path, "demo", "1.0", {"setup.py": ""}, raw_members=[("other/file", b"")])
    with pytest.raises(InvalidSdist, match="exactly one top-level directory"):
        archive.inspect_sdist(sdist)


def test_a_file_that_is_not_an_archive_is_invalid(tmp_path, interpreter):
    bogus = tmp_path / "demo-1.0.tar.gz"
    bogus.write_bytes(b"not gzip at all")
    with pytest.raises(InvalidSdist, match="cannot read the source distribution `demo-1.0.tar.gz`"):
        archive.inspect_sdist(bogus)
    other = tmp_path / "demo-1.0.rar"
    other.write_bytes(b"")
    with pytest.raises(InvalidSdist, match="is not a source distribution"):
        run(build.build_wheel(other, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))


# -- [build-system] ------------------------------------------------------------------------------------


LABEL = source.SourceLabel("demo", "1.0")


def test_build_system_defaults_when_pyproject_is_missing_or_silent():
    assert source.parse_build_system(None, LABEL) == source.BuildSystem(
        ("setuptools>=40.8.0",), "setuptools.build_meta:__legacy__", legacy=True
    )
    assert source.parse_build_system({"project": {"name": "demo"}}, LABEL).legacy


def test_build_system_without_backend_keeps_its_requires_and_uses_the_legacy_backend():
    bs = source.parse_build_system({"build-system": {"requires": ["setuptools>=70", "wheel"]}}, LABEL)
    assert bs == source.BuildSystem(("setuptools>=70", "wheel"), "setuptools.build_meta:__legacy__")


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"build-backend": "x"}, "`requires` is missing"),
        ({"requires": "setuptools"}, "not a list of strings"),
        ({"requires": ["not a requirement!!"]}, "is not a valid requirement"),
        ({"requires": [], "build-backend": "b", "backend-path": ["../outside"]}, "not a directory inside"),
        ({"requires": [], "build-backend": "b", "backend-path": ["/abs"]}, "not a directory inside"),
    ],
)
def test_invalid_build_system_tables(table, why):
    with pytest.raises(InvalidSdist) as caught:
        source.parse_build_system({"build-system": table}, LABEL)
    assert why in caught.value.message and "`demo==1.0`" in caught.value.message


def test_project_table_names_a_source_tree(tmp_path):
    write_tree(tmp_path / "tree", {"pyproject.toml": '[project]\nname = "Named"\nversion = "2.0"\n'})
    bs, label = source.read_source_tree(tmp_path / "tree", source.label_for_tree(tmp_path / "tree"))
    assert bs.legacy and str(label) == "Named==2.0"
    write_tree(tmp_path / "bad", {"pyproject.toml": "[build-system\n"})
    with pytest.raises(InvalidSdist, match="not valid TOML"):
        source.read_source_tree(tmp_path / "bad", source.label_for_tree(tmp_path / "bad"))


# -- static metadata (PEP 643) -----------------------------------------------------------------------------


def test_static_pkg_info_is_used_without_a_build(tmp_path, interpreter, spawns):
    sdist = build_sdist(tmp_path, "demo", "1.0", requires_dist=["dep>=2"], requires_python=">=3.8", metadata_version="2.2")
    calls = []

    async def installer(env, requirements):  # pragma: no cover - must not be reached
        calls.append(requirements)

    cache = Cache(tmp_path / "cache")
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=installer))
    assert (metadata.name, str(metadata.version)) == ("demo", "1.0")
    assert [str(r) for r in metadata.requires_dist] == ["dep>=2"]
    assert str(metadata.requires_python) == ">=3.8"
    assert spawns == [] and calls == []
    assert not (cache.root / "builds-v1" / "envs").exists()


@pytest.mark.parametrize(
    ("version", "dynamic", "trusted"),
    [
        ("2.2", [], True),
        ("2.4", ["Summary"], True),
        ("2.1", [], False),
        ("2.2", ["Requires-Dist"], False),
        ("2.3", ["requires-python"], False),
        ("2.2", ["Version"], False),
        ("2.2", ["Provides-Extra"], False),
    ],
)
def test_pep_643_rules(version, dynamic, trusted):
    text = f"Metadata-Version: {version}\nName: demo\nVersion: 1.0\n" + "".join(f"Dynamic: {d}\n" for d in dynamic)
    assert (source.static_metadata(text.encode(), "PKG-INFO") is not None) is trusted


def test_dynamic_pkg_info_asks_the_backend(tmp_path, interpreter, spawns):
    pkg_info = "Metadata-Version: 2.2\nName: mini\nVersion: 1.0\nDynamic: Requires-Dist\n\n"
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0", requires_dist=["real-dep"], pkg_info=pkg_info))
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))
    assert [str(r) for r in metadata.requires_dist] == ["real-dep"]
    assert hook_names(spawns) == ["get_requires_for_build_wheel", "prepare_metadata_for_build_wheel"]


# -- hooks and their process environment ------------------------------------------------------------------


def test_hook_environment_is_clean(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_INDEX_URL", "http://example.invalid/simple")
    monkeypatch.setenv("PYX_CACHE_DIR", "/somewhere")
    monkeypatch.setenv("PYTHONPATH", "/injected")
    monkeypatch.setenv("KEEP_ME", "1")
    env = type("E", (), {"root": tmp_path / "env", "executable": tmp_path / "env" / "bin" / "python"})()
    clean = hooks.hook_environment(env, {"_PYPROJECT_HOOKS_BUILD_BACKEND": "b"})
    assert not [k for k in clean if k.startswith("PYX_")]
    assert [k for k in clean if k.startswith("PIP_")] == ["PIP_NO_INDEX"]
    assert "PYTHONPATH" not in clean and clean["KEEP_ME"] == "1"
    assert clean["PYTHONNOUSERSITE"] == "1" and clean["VIRTUAL_ENV"] == str(tmp_path / "env")
    assert clean["PATH"].split(os.pathsep)[0] == str(tmp_path / "env" / "bin")
    assert clean["_PYPROJECT_HOOKS_BUILD_BACKEND"] == "b"


def test_backend_runs_in_the_build_env_with_a_clean_environment(tmp_path, interpreter, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://example.invalid/simple")
    monkeypatch.setenv("PYX_SECRET", "s3cret")
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0", record_env=True))
    cache = Cache(tmp_path / "c")
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=None))
    seen = dict(item.split("=", 1) for item in metadata.summary.split())
    assert seen["PYTHONNOUSERSITE"] == "1"
    assert seen["PIP_NO_INDEX"] == "1" and "PIP_INDEX_URL" not in seen and "PYX_SECRET" not in seen
    assert Path(seen["VIRTUAL_ENV"]).parent == cache.root / "builds-v1" / "envs"


# -- environments --------------------------------------------------------------------------------------------


def test_build_environments_are_made_once_and_reused(tmp_path, interpreter, fresh, spawns):
    cache, installer = fresh
    first = make_sdist(tmp_path, "one", "1.0", mini_project("one", "1.0", requires=["build-helper"]))
    second = make_sdist(tmp_path, "two", "2.0", mini_project("two", "2.0", requires=["build-helper"]))
    a = run(build.build_wheel(first, interpreter=interpreter, cache=cache, installer=installer))
    b = run(build.build_wheel(second, interpreter=interpreter, cache=cache, installer=installer))
    assert (a.metadata.name, b.metadata.name) == ("one", "two")
    assert len(installer.calls) == 1 and installer.calls[0][1] == ["build-helper"]
    envs = [p for p in (cache.root / "builds-v1" / "envs").iterdir() if p.is_dir()]
    assert len(envs) == 1 and (envs[0] / isolation.MARKER).is_file()
    site = next(envs[0].glob("lib/python*/site-packages"))
    assert (site / "build_helper" / "__init__.py").is_file()


def test_get_requires_answer_gets_its_own_larger_environment(tmp_path, interpreter, fresh):
    cache, installer = fresh
    project = mini_project("asks", "1.0", requires=["build-helper"], get_requires=["extra-helper"])
    sdist = make_sdist(tmp_path, "asks", "1.0", project)
    run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=installer))
    assert [req for _, req in installer.calls] == [["build-helper"], ["build-helper", "extra-helper"]]
    # the environment keyed by the plain requires is left as it was: no extra-helper in it
    plain = isolation.envs_dir(cache) / isolation.env_key(["build-helper"], interpreter)
    assert not list(plain.glob("lib/python*/site-packages/extra_helper"))
    # a second package asking the same reuses both
    again = make_sdist(tmp_path, "asks-too", "1.0", mini_project("asks-too", "1.0", requires=["build-helper"], get_requires=["extra-helper"]))
    run(build.build_wheel(again, interpreter=interpreter, cache=cache, installer=installer))
    assert len(installer.calls) == 2


def test_an_interrupted_environment_is_made_again(tmp_path, interpreter, fresh):
    cache, installer = fresh
    root = isolation.envs_dir(cache) / isolation.env_key(["build-helper"], interpreter)
    root.mkdir(parents=True)
    (root / "half-written").write_text("")
    sdist = make_sdist(tmp_path, "one", "1.0", mini_project("one", "1.0", requires=["build-helper"]))
    run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=installer))
    assert not (root / "half-written").exists() and (root / isolation.MARKER).is_file()
    assert len(installer.calls) == 1


def test_build_requirements_that_cannot_be_installed_fail_the_build(tmp_path, interpreter, fresh):
    cache, _ = fresh
    from pyx_server.engine.errors import PackageNotFound

    async def failing(env, requirements):
        raise PackageNotFound("`nope` was not found", hints=["check the name"])

    sdist = make_sdist(tmp_path, "one", "1.0", mini_project("one", "1.0", requires=["nope"]))
    with pytest.raises(BuildError) as caught:
        run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=failing))
    assert "`one==1.0`" in caught.value.message and "`nope` was not found" in caught.value.message
    assert "check the name" in caught.value.hints
    assert not any(p.is_dir() for p in isolation.envs_dir(cache).iterdir())


# -- the mini backend: metadata, caching, failures -------------------------------------------------------------


def test_prepare_metadata_without_a_build_and_its_cache(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0", requires_dist=["dep==1"]))
    cache = Cache(tmp_path / "c")
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert [str(r) for r in metadata.requires_dist] == ["dep==1"]
    assert hook_names(spawns) == ["get_requires_for_build_wheel", "prepare_metadata_for_build_wheel"]
    assert not list((cache.root / "builds-v1").glob("wheels/*/*.whl"))
    again = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert again.name == "mini" and len(spawns) == 2


def test_missing_prepare_hook_builds_the_wheel_and_keeps_it(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0", prepare=False, requires_dist=["dep"]))
    cache = Cache(tmp_path / "c")
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert [str(r) for r in metadata.requires_dist] == ["dep"]
    assert hook_names(spawns) == ["get_requires_for_build_wheel", "prepare_metadata_for_build_wheel", "build_wheel"]
    built = run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert len(spawns) == 3  # the wheel built for the metadata is the one returned
    assert built.path.parent.parent == cache.root / "builds-v1" / "wheels"


def test_second_build_of_an_sdist_is_a_cache_hit(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0"))
    cache = Cache(tmp_path / "c")
    reporter = CollectingReporter()
    first = run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None, reporter=reporter))
    assert first.path.name == "mini-1.0-py3-none-any.whl" and first.path.is_file()
    assert first.path.parent.name == first.sdist_sha256 and len(first.sdist_sha256) == 64
    assert isinstance(reporter.events[0], PhaseStarted) and reporter.events[0].phase == "build"
    assert any(isinstance(e, Notice) and "`mini==1.0`" in e.message for e in reporter.events)
    assert isinstance(reporter.events[-1], PhaseFinished) and reporter.events[-1].count == 1
    count = len(spawns)
    second = run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert (second.path, second.sdist_sha256) == (first.path, first.sdist_sha256) and len(spawns) == count
    assert second.metadata.name == "mini"
    assert run(build.sdist_metadata(sdist, interpreter=interpreter, cache=cache, installer=None)).name == "mini"
    assert len(spawns) == count


def test_concurrent_builds_of_one_sdist_build_it_once(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0"))
    cache = Cache(tmp_path / "c")

    async def both():
        return await asyncio.gather(
            *(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None) for _ in range(2))
        )

    first, second = run(both())
    assert first.path == second.path
    assert hook_names(spawns).count("build_wheel") == 1


def test_cached_wheel_for_another_interpreter_is_not_used(tmp_path, interpreter, spawns):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0"))
    cache = Cache(tmp_path / "c")
    sha = sha256_file(sdist)
    foreign = build.store.wheels_dir(cache, sha)
    make_test_wheel(foreign, "mini", "1.0", tag="cp27-cp27m-win32")
    built = run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None))
    assert built.path.name == "mini-1.0-py3-none-any.whl" and len(spawns) == 2
    assert sorted(p.name for p in foreign.iterdir()) == ["mini-1.0-cp27-cp27m-win32.whl", "mini-1.0-py3-none-any.whl"]


def test_a_wheel_this_interpreter_cannot_install_is_a_build_error(tmp_path, interpreter):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0", tag="cp27-cp27m-win32"))
    with pytest.raises(BuildError, match="cannot install"):
        run(build.build_wheel(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))


def test_failing_backend_reports_package_and_output_tail(tmp_path, interpreter):
    sdist = make_sdist(tmp_path, "broken", "3.1", mini_project("broken", "3.1", fail="build_wheel", noise=100))
    cache = Cache(tmp_path / "c")
    reporter = CollectingReporter()
    with pytest.raises(BuildError) as caught:
        run(build.build_wheel(sdist, interpreter=interpreter, cache=cache, installer=None, reporter=reporter))
    error = caught.value
    assert error.code == "build-failed"
    assert "`broken==3.1`" in error.message and "`build_wheel`" in error.message
    assert "RuntimeError: mini backend failed on purpose in build_wheel" in error.message
    lines = error.detail.splitlines()
    assert len(lines) == hooks.TAIL_LINES
    assert "noise line 99" in error.detail and "noise line 0\n" not in error.detail
    assert "about to fail" in error.detail and lines[-1].startswith("RuntimeError")
    assert error.hints and error.context["exit_code"] != 0
    assert not list((cache.root / "builds-v1").glob("wheels/*/*.whl"))
    assert reporter.events[-1] == PhaseFinished("build", 0, reporter.events[-1].seconds)


def test_failure_in_metadata_preparation_is_a_build_error_too(tmp_path, interpreter):
    sdist = make_sdist(tmp_path, "broken", "3.1", mini_project("broken", "3.1", fail="prepare_metadata_for_build_wheel"))
    with pytest.raises(BuildError, match="`broken==3.1`.*`prepare_metadata_for_build_wheel`"):
        run(build.sdist_metadata(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))


def test_missing_module_gives_a_hint(tmp_path, interpreter):
    files = mini_project("needy", "1.0")
    files["_backend/mini_backend.py"] = "import not_installed_anywhere\n" + files["_backend/mini_backend.py"]
    sdist = make_sdist(tmp_path, "needy", "1.0", files)
    with pytest.raises(BuildError) as caught:
        run(build.build_wheel(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))
    assert "`needy==1.0`" in caught.value.message
    assert "not_installed_anywhere" in caught.value.detail
    assert any("`not_installed_anywhere`" in hint for hint in caught.value.hints)


def test_unimportable_backend_is_named(tmp_path, interpreter):
    files = mini_project("nobackend", "1.0")
    files["pyproject.toml"] = '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n'
    sdist = make_sdist(tmp_path, "nobackend", "1.0", files)
    with pytest.raises(BuildError) as caught:
        run(build.build_wheel(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))
    assert "`nobackend==1.0`" in caught.value.message and "`no_such_backend` cannot be imported" in caught.value.message
    assert any("`no_such_backend`" in hint for hint in caught.value.hints)


def test_hook_timeout_stops_the_backend(tmp_path, interpreter, monkeypatch):
    files = mini_project("slow", "1.0")
    files["_backend/mini_backend.py"] = "import time; time.sleep(30)\n" + files["_backend/mini_backend.py"]
    sdist = make_sdist(tmp_path, "slow", "1.0", files)
    monkeypatch.setattr(hooks, "BUILD_TIMEOUT", 1.0)
    with pytest.raises(BuildError, match="did not finish within 1 seconds"):
        run(build.build_wheel(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None))


# -- source trees and editables ---------------------------------------------------------------------------------


def test_source_tree_build_and_editable(tmp_path, interpreter, spawns):
    tree = write_tree(tmp_path / "tree", mini_project("treepkg", "0.5"))
    cache = Cache(tmp_path / "c")
    wheel = run(build.build_wheel(tree, interpreter=interpreter, cache=cache, installer=None))
    assert wheel.sdist_sha256 is None and wheel.metadata.name == "treepkg"
    editable = run(build.build_wheel(tree, interpreter=interpreter, cache=cache, installer=None, editable=True))
    assert "build_editable" in hook_names(spawns) and "get_requires_for_build_editable" in hook_names(spawns)
    with zipfile.ZipFile(editable.path) as zf:
        assert zf.read("treepkg_editable.pth").decode().strip() == str(tree)
    # a tree is built again every time (its files may have changed)
    before = len(spawns)
    run(build.build_wheel(tree, interpreter=interpreter, cache=cache, installer=None))
    assert len(spawns) > before
    metadata = run(build.sdist_metadata(tree, interpreter=interpreter, cache=cache, installer=None))
    assert metadata.name == "treepkg"


def test_editable_needs_pep_660_support(tmp_path, interpreter):
    tree = write_tree(tmp_path / "tree", mini_project("old", "1.0", editable=False))
    with pytest.raises(BuildError, match="PEP 660") as caught:
        run(build.build_wheel(tree, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None, editable=True))
    # no [project] table: the tree is named by its directory
    assert "Failed to build `tree` in editable mode" in caught.value.message


def test_editable_of_an_sdist_is_a_usage_error(tmp_path, interpreter):
    sdist = make_sdist(tmp_path, "mini", "1.0", mini_project("mini", "1.0"))
    with pytest.raises(UsageError, match="source directory"):
        run(build.build_wheel(sdist, interpreter=interpreter, cache=Cache(tmp_path / "c"), installer=None, editable=True))


# -- real backends from the local index ----------------------------------------------------------------------------


def _wheel_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return set(zf.namelist())


def test_setuptools_sdist_metadata_then_build(tmp_path, interpreter, session_cache, installer, spawns):
    sdist = make_sdist(tmp_path, "st-demo", "1.2", setuptools_project("st-demo", "1.2", requires_dist=["dep>=1"]))
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert (metadata.name, str(metadata.version)) == ("st-demo", "1.2")
    assert [str(r) for r in metadata.requires_dist] == ["dep>=1"]
    assert hook_names(spawns)[-1] == "prepare_metadata_for_build_wheel"  # setuptools has the hook
    built = run(build.build_wheel(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert built.path.name == "st_demo-1.2-py3-none-any.whl"
    assert "st_demo/__init__.py" in _wheel_names(built.path)
    count = len(spawns)
    again = run(build.build_wheel(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert again.path == built.path and len(spawns) == count


def test_hatchling_sdist_metadata_build_and_cache_hit(tmp_path, interpreter, session_cache, installer, spawns):
    sdist = make_sdist(tmp_path, "hatch-demo", "0.3", hatchling_project("hatch-demo", "0.3", requires_dist=["dep"]))
    metadata = run(build.sdist_metadata(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert (metadata.name, [str(r) for r in metadata.requires_dist]) == ("hatch-demo", ["dep"])
    assert hook_names(spawns)[-1] == "prepare_metadata_for_build_wheel"
    built = run(build.build_wheel(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert hook_names(spawns)[-1] == "build_wheel"
    assert built.path.name == "hatch_demo-0.3-py3-none-any.whl"
    assert "hatch_demo/__init__.py" in _wheel_names(built.path)
    assert [str(r) for r in built.metadata.requires_dist] == ["dep"]
    assert str(built.metadata.requires_python) == ">=3.8"
    count = len(spawns)
    assert run(build.build_wheel(sdist, interpreter=interpreter, cache=session_cache, installer=installer)).path == built.path
    assert len(spawns) == count


def test_setuptools_source_tree_and_editable(tmp_path, interpreter, session_cache, installer):
    tree = write_tree(tmp_path / "tree", setuptools_project("tree-demo", "2.0"))
    wheel = run(build.build_wheel(tree, interpreter=interpreter, cache=session_cache, installer=installer))
    assert wheel.path.name == "tree_demo-2.0-py3-none-any.whl" and wheel.sdist_sha256 is None
    editable = run(build.build_wheel(tree, interpreter=interpreter, cache=session_cache, installer=installer, editable=True))
    assert any(n.endswith(".pth") for n in _wheel_names(editable.path))
    assert editable.metadata.name == "tree-demo"


def test_legacy_setup_py_sdist_uses_the_setuptools_default(tmp_path, interpreter, session_cache, installer):
    sdist = make_sdist(tmp_path, "legacy-demo", "0.9", legacy_project("legacy-demo", "0.9", requires_dist=["dep<3"]))
    built = run(build.build_wheel(sdist, interpreter=interpreter, cache=session_cache, installer=installer))
    assert built.path.name == "legacy_demo-0.9-py3-none-any.whl"
    assert [str(r) for r in built.metadata.requires_dist] == ["dep<3"]
    default_env = isolation.envs_dir(session_cache) / isolation.env_key(["setuptools>=40.8.0"], interpreter)
    assert (default_env / isolation.MARKER).is_file()
    assert ["setuptools>=40.8.0"] in [req for _, req in installer.calls]
