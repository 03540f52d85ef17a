"""Environment discovery (uv/pip order) and reading installed distributions from dist-info."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.version import Version

from pyx_server.engine.envs import interpreter as interpreter_module
from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import (
    NO_ENVIRONMENT,
    PythonEnvironment,
    find_environment,
    open_venv,
)
from pyx_server.engine.errors import EnvironmentNotFound, InterpreterError, InvalidEnvironment
from tests.support.wheels import build_wheel

SHORT = f"{sys.version_info[0]}.{sys.version_info[1]}"
BASE = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))


@pytest.fixture
def cache(cache_dir: Path) -> Cache:
    return Cache(cache_dir)


@pytest.fixture
def no_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("spawned a process")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def make_venv(root: Path, version: str | None = None) -> Path:
    """A minimal virtual environment written by hand: pyvenv.cfg, bin/python, site-packages."""
    version = version or ".".join(map(str, sys.version_info[:3]))
    (root / "bin").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(
        f"home = {BASE.parent}\ninclude-system-site-packages = false\nversion = {version}\n"
    )
    (root / "bin" / "python").symlink_to(BASE)
    major_minor = ".".join(version.split(".")[:2])
    site = root / "lib" / f"python{major_minor}" / "site-packages"
    site.mkdir(parents=True)
    return site


def write_dist(
    site: Path,
    name: str,
    version: str,
    *,
    installer: str | None = "pip",
    requested: bool = False,
    direct_url: dict | None = None,
    metadata: str | None = None,
) -> Path:
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    text = metadata if metadata is not None else (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: s\n\nLong description\nName: wrong\n"
    )
    (dist_info / "METADATA").write_text(text)
    if installer:
        (dist_info / "INSTALLER").write_text(installer + "\n")
    if requested:
        (dist_info / "REQUESTED").write_text("")
    if direct_url is not None:
        (dist_info / "direct_url.json").write_text(json.dumps(direct_url))
    return dist_info


# -- discovery --------------------------------------------------------------------------------


def test_venv_in_cwd(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    make_venv(tmp_path / ".venv")
    env = find_environment(cwd=tmp_path, env={}, cache=cache)
    assert env.root == tmp_path / ".venv"
    assert env.executable == tmp_path / ".venv" / "bin" / "python"
    assert env.is_venv
    assert env.site_packages == (tmp_path / ".venv" / "lib" / f"python{SHORT}" / "site-packages",)
    assert not env.has_interpreter  # nothing was run


def test_venv_in_a_parent_directory(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    make_venv(tmp_path / ".venv")
    deep = tmp_path / "src" / "pkg" / "sub"
    deep.mkdir(parents=True)
    assert find_environment(cwd=deep, env={}, cache=cache).root == tmp_path / ".venv"
    # the nearest one wins
    make_venv(tmp_path / "src" / ".venv")
    assert find_environment(cwd=deep, env={}, cache=cache).root == tmp_path / "src" / ".venv"


def test_virtual_env_variable(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    make_venv(tmp_path / "active")
    make_venv(tmp_path / "project" / ".venv")
    env = find_environment(cwd=tmp_path / "project", env={"VIRTUAL_ENV": str(tmp_path / "active")}, cache=cache)
    assert env.root == tmp_path / "active"  # VIRTUAL_ENV before .venv


def test_virtual_env_relative_to_cwd(tmp_path: Path, cache: Cache) -> None:
    make_venv(tmp_path / "envs" / "one")
    env = find_environment(cwd=tmp_path, env={"VIRTUAL_ENV": "envs/one"}, cache=cache)
    assert env.root == tmp_path / "envs" / "one"


def test_virtual_env_that_does_not_exist(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(InvalidEnvironment) as exc:
        find_environment(cwd=tmp_path, env={"VIRTUAL_ENV": str(tmp_path / "gone")}, cache=cache)
    assert f"`{tmp_path / 'gone'}`" in exc.value.message
    assert "VIRTUAL_ENV" in exc.value.message


def make_conda_env(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(BASE)
    return root


def test_conda_prefix_after_virtual_env_before_dot_venv(tmp_path: Path, cache: Cache) -> None:
    conda = make_conda_env(tmp_path / "conda" / "envs" / "work")
    make_venv(tmp_path / "active")
    make_venv(tmp_path / ".venv")
    both = {"VIRTUAL_ENV": str(tmp_path / "active"), "CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "work"}
    assert find_environment(cwd=tmp_path, env=both, cache=cache).root == tmp_path / "active"
    only_conda = {"CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "work"}
    env = find_environment(cwd=tmp_path, env=only_conda, cache=cache)
    assert env.root == conda
    assert env.executable == conda / "bin" / "python"
    assert not env.is_venv


def test_conda_base_environment_is_not_a_target(tmp_path: Path, cache: Cache) -> None:
    conda = make_conda_env(tmp_path / "miniconda")
    with pytest.raises(EnvironmentNotFound):
        find_environment(cwd=tmp_path, env={"CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "base"}, cache=cache)


def test_python_option_comes_first(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    make_venv(tmp_path / "chosen")
    make_venv(tmp_path / "active")
    make_venv(tmp_path / ".venv")
    env_vars = {"VIRTUAL_ENV": str(tmp_path / "active")}
    # a venv directory, relative to cwd
    env = find_environment(python="./chosen", cwd=tmp_path, env=env_vars, cache=cache)
    assert env.root == tmp_path / "chosen"
    # an existing directory is a path even without a separator (as uv reads it)
    env = find_environment(python="chosen", cwd=tmp_path, env=env_vars, cache=cache)
    assert env.root == tmp_path / "chosen"
    # a venv's interpreter: the venv is known from the layout, nothing runs
    env = find_environment(python=str(tmp_path / "chosen" / "bin" / "python"), cwd=tmp_path, env=env_vars, cache=cache)
    assert env.root == tmp_path / "chosen"
    assert env.executable == tmp_path / "chosen" / "bin" / "python"
    assert not env.has_interpreter


def test_python_option_with_a_plain_interpreter(tmp_path: Path, cache: Cache) -> None:
    env = find_environment(python=str(BASE), cwd=tmp_path, env={}, cache=cache)
    assert env.root == Path(sys.base_prefix)
    assert not env.is_venv
    assert env.interpreter.version == tuple(sys.version_info[:3])


def test_python_option_with_a_version_found_on_path(tmp_path: Path, cache: Cache) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / f"python{SHORT}").symlink_to(BASE)
    env = find_environment(python=SHORT, cwd=tmp_path, env={"PATH": str(bindir)}, cache=cache)
    assert Path(os.path.realpath(env.executable)) == BASE
    assert env.root == Path(sys.base_prefix)


def test_python_option_naming_nothing(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(InterpreterError) as exc:
        find_environment(python="./missing/bin/python", cwd=tmp_path, env={}, cache=cache)
    assert f"`{tmp_path / 'missing' / 'bin' / 'python'}`" in exc.value.message
    with pytest.raises(InterpreterError) as exc:
        find_environment(python="3.99", cwd=tmp_path, env={"PATH": str(tmp_path)}, cache=cache)
    assert "`3.99`" in exc.value.message


def test_refuses_without_a_virtual_environment(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(EnvironmentNotFound) as exc:
        find_environment(cwd=tmp_path, env={}, cache=cache)
    assert exc.value.message == NO_ENVIRONMENT
    assert "--system" in exc.value.message
    assert exc.value.code == "no-environment"


def test_system_uses_the_first_python3_on_path(tmp_path: Path, cache: Cache) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(BASE)
    make_venv(tmp_path / ".venv")  # ignored with --system, as in uv
    env = find_environment(system=True, cwd=tmp_path, env={"PATH": str(bindir)}, cache=cache)
    assert env.root == Path(sys.base_prefix)
    assert env.site_packages[0] == env.interpreter.scheme.purelib


def test_invalid_dot_venv_is_named(tmp_path: Path, cache: Cache) -> None:
    (tmp_path / ".venv").mkdir()
    with pytest.raises(InvalidEnvironment) as exc:
        find_environment(cwd=tmp_path, env={}, cache=cache)
    assert f"`{tmp_path / '.venv'}`" in exc.value.message
    assert "pyvenv.cfg" in exc.value.message
    assert exc.value.code == "invalid-environment"
    assert any("pyx venv" in hint for hint in exc.value.hints)


def test_dot_venv_without_python(tmp_path: Path, cache: Cache) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(InvalidEnvironment) as exc:
        find_environment(cwd=tmp_path, env={}, cache=cache)
    assert f"`{tmp_path / '.venv'}`" in exc.value.message
    assert "bin/python" in exc.value.message


def test_dot_venv_whose_base_python_is_gone(tmp_path: Path, cache: Cache) -> None:
    make_venv(tmp_path / ".venv")
    python = tmp_path / ".venv" / "bin" / "python"
    python.unlink()
    python.symlink_to(tmp_path / "uninstalled" / "python3.11")
    with pytest.raises(InvalidEnvironment) as exc:
        find_environment(cwd=tmp_path, env={}, cache=cache)
    assert "no longer exists" in exc.value.message
    assert "uninstalled" in exc.value.message


def test_dot_venv_that_is_a_file(tmp_path: Path, cache: Cache) -> None:
    (tmp_path / ".venv").write_text("not a directory")
    with pytest.raises(InvalidEnvironment) as exc:
        find_environment(cwd=tmp_path, env={}, cache=cache)
    assert "not a directory" in exc.value.message


def test_site_packages_follows_pyvenv_cfg_version(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    site = make_venv(tmp_path / "v", version="3.12.4")
    (tmp_path / "v" / "lib" / "python3.9" / "site-packages").mkdir(parents=True)  # a stale leftover
    env = open_venv(tmp_path / "v", cache=cache)
    assert env.site_packages == (site,)
    assert site.parent.name == "python3.12"


def test_interpreter_is_asked_lazily_and_once(tmp_path: Path, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    make_venv(tmp_path / ".venv")
    calls = []
    real_run = subprocess.run

    def counting(*args, **kwargs):
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(interpreter_module.subprocess, "run", counting)
    env = find_environment(cwd=tmp_path, env={}, cache=cache)
    env.installed()
    assert calls == []
    assert env.interpreter.sys_prefix == tmp_path / ".venv"
    assert env.interpreter.base_prefix == Path(sys.base_prefix)
    assert env.scheme.purelib == env.site_packages[0]
    assert len(calls) == 1
    # another process (a new PythonEnvironment) reads the cache
    assert find_environment(cwd=tmp_path, env={}, cache=cache).interpreter == env.interpreter
    assert len(calls) == 1


# -- installed distributions ------------------------------------------------------------------


def test_installed_reads_dist_info_without_spawning(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    site = make_venv(tmp_path / ".venv")
    write_dist(site, "Django", "5.0.1", requested=True)
    write_dist(site, "typing_extensions", "4.9.0", installer="uv")
    write_dist(
        site,
        "local-pkg",
        "0.1",
        installer="pyx",
        direct_url={"url": "file:///src/local-pkg", "dir_info": {"editable": True}},
    )
    write_dist(site, "noinstaller", "1.0", installer=None)
    (site / "some_module.py").write_text("")
    (site / "pkg").mkdir()

    installed = find_environment(cwd=tmp_path, env={}, cache=cache).installed()
    assert set(installed) == {"django", "typing-extensions", "local-pkg", "noinstaller"}
    django = installed["django"]
    assert django.version == Version("5.0.1")
    assert django.display_name == "Django"  # as written, though the key is normalized
    assert django.installer == "pip"
    assert django.requested is True
    assert django.direct_url is None
    assert django.dist_info == site / "Django-5.0.1.dist-info"
    assert installed["typing-extensions"].installer == "uv"
    assert installed["typing-extensions"].requested is False
    local = installed["local-pkg"]
    assert local.direct_url == {"url": "file:///src/local-pkg", "dir_info": {"editable": True}}
    assert local.editable
    assert installed["noinstaller"].installer is None


def test_egg_info_directories_and_files(tmp_path: Path, cache: Cache) -> None:
    site = make_venv(tmp_path / ".venv")
    egg_dir = site / "legacy_pkg-2.0-py3.11.egg-info"
    egg_dir.mkdir()
    (egg_dir / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy-pkg\nVersion: 2.0\n")
    (site / "Single_File-0.3-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: Single_File\nVersion: 0.3\n")

    installed = open_venv(tmp_path / ".venv", cache=cache).installed()
    assert installed["legacy-pkg"].dist_info == egg_dir
    assert installed["legacy-pkg"].version == Version("2.0")
    assert installed["legacy-pkg"].is_egg_info
    assert installed["single-file"].dist_info == site / "Single_File-0.3-py3.11.egg-info"
    assert installed["single-file"].display_name == "Single_File"
    assert installed["single-file"].installer is None


def test_malformed_metadata_is_skipped_and_reported(tmp_path: Path, cache: Cache) -> None:
    site = make_venv(tmp_path / ".venv")
    write_dist(site, "good", "1.0")
    (site / "nometa-1.0.dist-info").mkdir()
    write_dist(site, "noversion", "1.0", metadata="Metadata-Version: 2.1\nName: noversion\n\nVersion: 1.0\n")
    write_dist(site, "noname", "1.0", metadata="Metadata-Version: 2.1\nVersion: 1.0\n")
    write_dist(site, "badversion", "1.0", metadata="Name: badversion\nVersion: not a version!\n")
    binary = site / "binary-1.0.dist-info"
    binary.mkdir()
    (binary / "METADATA").write_bytes(b"\xff\xfe\x00\x01garbage\x00\n\x89PNG")
    (site / "broken_egg-1.0.egg-info").mkdir()  # no PKG-INFO

    env = open_venv(tmp_path / ".venv", cache=cache)
    assert set(env.installed()) == {"good"}
    reasons = {s.path.name: s.reason for s in env.scan().skipped}
    assert "METADATA" in reasons["nometa-1.0.dist-info"]
    assert "Version" in reasons["noversion-1.0.dist-info"]
    assert "Name" in reasons["noname-1.0.dist-info"]
    assert "`not a version!`" in reasons["badversion-1.0.dist-info"]
    assert "binary-1.0.dist-info" in reasons
    assert "PKG-INFO" in reasons["broken_egg-1.0.egg-info"]


def test_a_second_copy_of_a_distribution_is_reported(tmp_path: Path, cache: Cache) -> None:
    site = make_venv(tmp_path / ".venv")
    write_dist(site, "dup", "1.0")
    write_dist(site, "Dup", "2.0")
    scan = open_venv(tmp_path / ".venv", cache=cache).scan()
    assert list(scan.dists) == ["dup"]
    # entries are read in sorted order, so the listing is stable: `Dup-2.0` sorts first
    assert scan.dists["dup"].version == Version("2.0")
    assert [s.path.name for s in scan.skipped] == ["dup-1.0.dist-info"]
    assert "second copy" in scan.skipped[0].reason


def test_thirty_dists_read_in_a_few_milliseconds(tmp_path: Path, cache: Cache, no_spawn: None) -> None:
    site = make_venv(tmp_path / ".venv")
    long_description = "x" * 200_000  # never read: parsing stops at the headers
    for i in range(30):
        write_dist(
            site,
            f"package-{i}",
            f"{i}.0",
            metadata=f"Metadata-Version: 2.1\nName: package-{i}\nVersion: {i}.0\n\n{long_description}\n",
        )
    env = find_environment(cwd=tmp_path, env={}, cache=cache)
    env.installed()
    started = time.perf_counter()
    rounds = 10
    for _ in range(rounds):
        installed = find_environment(cwd=tmp_path, env={}, cache=cache).installed()
    elapsed = (time.perf_counter() - started) / rounds
    assert len(installed) == 30
    assert installed["package-29"].version == Version("29.0")
    print(f"\nfind_environment + installed() for 30 dists: {elapsed * 1000:.2f} ms")


def test_pip_installed_wheel_is_read(tmp_path: Path, cache: Cache) -> None:
    site = make_venv(tmp_path / "venv")
    wheel = build_wheel(tmp_path / "wheels", "Pip-Installed", "1.2.3", summary="installed by pip")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(tmp_path / "venv" / "bin" / "python"),
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = open_venv(tmp_path / "venv", cache=cache)
    installed = env.installed()
    assert list(installed) == ["pip-installed"]
    dist = installed["pip-installed"]
    assert dist.display_name == "Pip-Installed"
    assert dist.version == Version("1.2.3")
    assert dist.installer == "pip"
    assert dist.requested is True
    assert dist.dist_info.parent == site
    assert dist.direct_url is not None and dist.direct_url["url"].startswith("file://")
    assert dist.direct_url["url"].endswith(wheel.name)
    assert "archive_info" in dist.direct_url
    assert not dist.editable


def test_environment_given_explicit_site_packages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "one", "1.0")
    env = PythonEnvironment(tmp_path, tmp_path / "bin" / "python", site_packages=[site, site])
    assert env.site_packages == (site,)
    assert list(env.installed()) == ["one"]
