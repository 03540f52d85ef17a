"""Builds through the command line: source trees, editables, sdist-only packages, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyx_server.engine.envs.environment import open_venv
from tests.support.backends import WHEELHOUSE, hatchling_project, make_sdist, mini_project, setuptools_project, wheelhouse, write_tree
from tests.support.cli import pyx
from tests.support.index_server import LocalIndex
from tests.support.wheels import metadata_text
from tests.support.envs import site


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    """An index serving the real build backends (setuptools, hatchling and its dependencies)."""
    wheels = wheelhouse() if WHEELHOUSE.is_dir() else {}
    if not {"setuptools", "hatchling"} <= set(wheels):
        message = "tests/.wheels lacks setuptools/hatchling wheels: run scripts/test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    index = LocalIndex(tmp_path_factory.mktemp("backends")).start()
    for path in wheels.values():
        index.add(path)
    yield index
    index.close()


def with_pkg_info(files: dict, name: str, version: str) -> dict:
    """An sdist's PKG-INFO, as Metadata-Version 2.1: not trusted for dependencies (PEP 643), so pyx asks the backend."""
    return {**files, "PKG-INFO": metadata_text(name, version)}


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    assert pyx("venv", tmp_path / ".venv", "--python", sys.executable).code == 0
    return tmp_path / ".venv"


def python(venv: Path, code: str) -> str:
    return subprocess.run([venv / "bin" / "python", "-c", code], capture_output=True, text=True).stdout.strip()


def test_install_a_source_tree_and_an_editable(backends, venv: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "proj", setuptools_project("treepkg", "0.3"))
    run = pyx("pip", "install", tree, "-i", backends.url, "-p", venv)
    assert run.code == 0, run.err
    assert python(venv, "import treepkg; print(treepkg.__version__)") == "0.3"
    direct = json.loads((site(venv) / "treepkg-0.3.dist-info" / "direct_url.json").read_text())
    assert direct == {"url": tree.as_uri(), "dir_info": {}}

    run = pyx("pip", "install", "-e", tree, "-i", backends.url, "-p", venv, "--reinstall")
    assert run.code == 0, run.err
    direct = json.loads((site(venv) / "treepkg-0.3.dist-info" / "direct_url.json").read_text())
    assert direct["dir_info"] == {"editable": True}
    # an edit in the tree shows without reinstalling
    (tree / "src" / "treepkg" / "__init__.py").write_text("__version__ = 'edited'\n")
    assert python(venv, "import treepkg; print(treepkg.__version__)") == "edited"


def test_sdist_only_package_is_built_once(backends, tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "idx").start()
    try:
        index.add(make_sdist(tmp_path / "sd", "onlysource", "1.0", with_pkg_info(hatchling_project("onlysource", "1.0"), "onlysource", "1.0")))
        envs = []
        for label in ("one", "two"):
            env = tmp_path / label
            assert pyx("venv", env, "--python", sys.executable).code == 0
            envs.append(env)
        run = pyx("pip", "install", "onlysource", "-i", index.url, "--extra-index-url", backends.url, "-p", envs[0])
        assert run.code == 0, run.err
        assert python(envs[0], "import onlysource; print(onlysource.__version__)") == "1.0"
        backends.clear_log()
        run = pyx("pip", "install", "onlysource", "-i", index.url, "--extra-index-url", backends.url, "-p", envs[1])
        assert run.code == 0, run.err
        # the wheel built the first time is reused: no build backend is fetched again
        assert not [r for r in backends.requests if r.path.startswith("/files/")]
        assert "onlysource" in open_venv(envs[1]).installed()
    finally:
        index.close()


def test_compile_reads_sdist_metadata(backends, tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "idx").start()
    try:
        project = setuptools_project("needsdep", "2.0", requires_dist=["leaf>=1"])
        index.add(make_sdist(tmp_path / "sd", "needsdep", "2.0", with_pkg_info(project, "needsdep", "2.0")))
        index.build("leaf", "1.4")
        src = tmp_path / "in.txt"
        src.write_text("needsdep\n")
        run = pyx("pip", "compile", src, "-i", index.url, "--extra-index-url", backends.url, "--python", sys.executable, "--no-header")
        assert run.code == 0, run.err
        assert [line for line in run.out.splitlines() if not line.startswith(" ")] == ["leaf==1.4", "needsdep==2.0"]
    finally:
        index.close()


def test_a_failing_build_names_the_package_and_keeps_the_output(backends, venv: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "brokenpkg", mini_project("brokenpkg", "0.1", fail="build_wheel", noise=5))
    run = pyx("-v", "pip", "install", "--no-deps", f"brokenpkg @ {tree.as_uri()}", "-i", backends.url, "-p", venv)
    assert run.code == 2
    assert "brokenpkg" in run.err and "error:" in run.err
    assert "Traceback (most recent call last)" not in run.err.split("error:", 1)[0]
    assert "brokenpkg" not in open_venv(venv).installed()


def test_project_sync_installs_a_packaged_project_itself_editable(backends, tmp_path: Path, monkeypatch) -> None:
    project = write_tree(tmp_path / "mypkg", setuptools_project("mypkg", "0.1"))
    monkeypatch.setenv("PYX_INDEX_URL", backends.url)
    run = subprocess.run([sys.executable, "-m", "pyx_server", "sync", "--python", sys.executable],
                         cwd=project, capture_output=True, text=True, env=os.environ.copy())
    assert run.returncode == 0, run.stderr
    venv = project / ".venv"
    assert python(venv, "import mypkg; print(mypkg.__version__)") == "0.1"
    direct = json.loads((site(venv) / "mypkg-0.1.dist-info" / "direct_url.json").read_text())
    assert direct["dir_info"] == {"editable": True}
    # a second sync keeps it (no rebuild, nothing removed)
    again = subprocess.run([sys.executable, "-m", "pyx_server", "sync", "--python", sys.executable],
                           cwd=project, capture_output=True, text=True, env=os.environ.copy())
    assert again.returncode == 0 and "Audited" in again.stderr, again.stderr
