"""`pyx venv`, `pyx pip list|freeze|show|uninstall` and `pyx cache` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from tests.support.cli import mask, pyx


def test_venv_creates_a_working_environment(tmp_path: Path) -> None:
    run = pyx("venv", tmp_path / "env", "--python", sys.executable)
    assert run.code == 0, run.err
    assert f"Created virtual environment at: {tmp_path / 'env'}" in run.err
    out = subprocess.run([tmp_path / "env" / "bin" / "python", "-c", "import sys; print(sys.prefix)"],
                         capture_output=True, text=True).stdout.strip()
    assert out == str(tmp_path / "env")
    assert not list((tmp_path / "env").glob("lib/python*/site-packages/pip"))  # no ensurepip


def test_venv_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "precious.txt").write_text("keep me")
    run = pyx("venv", tmp_path / "stuff", "--python", sys.executable)
    assert run.code == 2
    assert "stuff" in run.err
    assert (tmp_path / "stuff" / "precious.txt").read_text() == "keep me"


def test_venv_seed_installs_pip_from_the_index(local_index, tmp_path: Path) -> None:
    index = local_index()
    index.build("pip", "24.0", files={"pip/__init__.py": "__version__ = '24.0'\n"})
    run = pyx("venv", tmp_path / "env", "--python", sys.executable, "--seed", "-i", index.url)
    assert run.code == 0, run.err
    assert " + pip==24.0" in run.err
    assert "pip" in open_venv(tmp_path / "env").installed()


def _populated(local_index, tmp_path: Path) -> Path:
    index = local_index()
    index.build("Alpha_Pkg", "1.0", summary="The first letter", requires_dist=["beta>=0.1", "gamma ; extra == 'x'"])
    index.build("beta", "0.2")
    venv = tmp_path / ".venv"
    assert pyx("venv", venv, "--python", sys.executable).code == 0
    run = pyx("pip", "install", "--no-deps", "alpha-pkg==1.0", "beta==0.2", "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    return venv


def test_list_freeze_show(local_index, tmp_path: Path) -> None:
    venv = _populated(local_index, tmp_path)
    assert pyx("pip", "freeze", "-p", venv).out == "Alpha_Pkg==1.0\nbeta==0.2\n"
    assert json.loads(pyx("pip", "list", "--format", "json", "-p", venv).out) == [
        {"name": "Alpha_Pkg", "version": "1.0"},
        {"name": "beta", "version": "0.2"},
    ]
    table = pyx("pip", "list", "-p", venv).out.splitlines()
    assert table[0].split() == ["Package", "Version"] and table[2].split() == ["Alpha_Pkg", "1.0"]
    show = pyx("pip", "show", "alpha-pkg", "-p", venv)
    assert "Summary: The first letter" in show.out
    assert "Requires: beta" in show.out
    assert pyx("pip", "show", "beta", "-p", venv).out.splitlines()[-1] == "Required-by: Alpha_Pkg"
    missing = pyx("pip", "show", "nothere", "-p", venv)
    assert missing.code == 1 and "nothere" in missing.err


def test_uninstall_reports_what_is_missing(local_index, tmp_path: Path) -> None:
    venv = _populated(local_index, tmp_path)
    run = pyx("pip", "uninstall", "beta", "nothere", "-p", venv)
    assert run.code == 0
    assert "skipping `nothere`" in run.err
    assert mask(run.err).endswith("Uninstalled 1 package in [TIME]\n - beta==0.2\n")
    assert sorted(open_venv(venv).installed()) == ["alpha-pkg"]


def test_cache_dir_clean_prune(local_index, tmp_path: Path, cache_dir: Path) -> None:
    assert pyx("cache", "dir").out.strip() == str(cache_dir)
    venv = _populated(local_index, tmp_path)
    cache = Cache(cache_dir)
    assert len(cache.referenced_archives()) == 2
    run = pyx("cache", "clean", "beta")
    assert run.code == 0 and "beta" in run.err
    assert len(cache.referenced_archives()) == 1
    assert pyx("cache", "prune").code == 0
    # installed files survive cache removal (they are links, not references)
    assert pyx("cache", "clean").code == 0
    assert not cache_dir.exists()
    assert sorted(open_venv(venv).installed()) == ["alpha-pkg", "beta"]
    out = subprocess.run([venv / "bin" / "python", "-c", "import beta; print(beta.__version__)"],
                         capture_output=True, text=True).stdout
    assert out.strip() == "0.2"


def test_global_flags_before_or_after_the_command(tmp_path: Path) -> None:
    assert pyx("--cache-dir", tmp_path / "c1", "cache", "dir").out.strip() == str(tmp_path / "c1")
    assert pyx("cache", "dir", "--cache-dir", tmp_path / "c2").out.strip() == str(tmp_path / "c2")
    assert pyx("-q", "cache", "prune").err == ""


@pytest.mark.parametrize("argv", [
    ["pip", "sync", "r.txt", "--python", "/x/python", "-q"],
    ["pip", "install", "a", "-e", "./b", "--upgrade"],
    ["pip", "compile", "in.txt", "-o", "out.txt", "--generate-hashes"],
    ["run", "--python", "3.12", "s.py", "a", "-q"],
    ["add", "numpy", "--script", "s.py"],
    ["gpu", "variants", "torch", "--format", "json"],
    ["cache", "prune"],
    ["venv", "v", "--seed"],
    ["pip", "list", "--format", "json"],
])
def test_a_parser_built_for_one_command_reads_it_as_the_full_parser_does(argv: list[str]) -> None:
    """Only the reachable sub-parsers are built (start-up time); the meaning must not change."""
    from pyx_server.cli.main import build_parser

    assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))
