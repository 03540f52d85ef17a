"""Shared fixtures: every test runs with pyx's and pip's configuration isolated from the host."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.index_server"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PIP_*/PYX_*/VIRTUAL_ENV from the host, pip's config files ignored, a private cache."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "PYX_", "UV_")) or key in ("VIRTUAL_ENV", "CONDA_PREFIX", "NETRC"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("PYX_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def cache_dir(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def venv(tmp_path: Path, cache_dir: Path) -> Path:
    """A fresh virtual environment (made by pyx itself) at ``tmp_path/.venv``."""
    from pyx_server.engine.cache import Cache
    from pyx_server.engine.envs.interpreter import query_interpreter
    from pyx_server.engine.envs.venv import create_venv

    cache = Cache(cache_dir)
    create_venv(tmp_path / ".venv", query_interpreter(sys.executable, cache), cache=cache)
    return tmp_path / ".venv"
