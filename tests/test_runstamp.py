"""Run stamps: `pyx run` of an unchanged script skips pyx entirely, and every change is noticed.

The end-to-end tests run the real entry point (``python -X importtime -m pyx_server run …``):
the import log on stderr tells whether the full command line (``pyx_server.cli.main``) was loaded
or the stamp let pyx exec the script's interpreter straight away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyx_server.engine.envs import runstamp
from pyx_server.engine.envs.store import gc

SCRIPT = """\
# /// script
# dependencies = ["greet"]
# ///
import sys
import greet
print(greet.hi(), sys.argv[1:])
"""


@pytest.fixture
def index(local_index, monkeypatch, tmp_path: Path):
    index = local_index()
    index.build("greet", "1.0", files={"greet/__init__.py": "def hi():\n    return 'greet 1.0'\n"})
    index.build("other", "3.0")
    monkeypatch.setenv("PYX_INDEX_URL", index.url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PYX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    return index


def run(*args, cwd: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess, bool]:
    """Run ``pyx run …``; returns the process and whether it went through the full command line."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pyx_server", "run", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)
    full = any(line.rstrip().endswith("| pyx_server.cli.main") for line in done.stderr.splitlines())
    return done, full


def stamps(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / runstamp.BUCKET).glob("*.json"))


@pytest.fixture
def script(index, tmp_path: Path) -> Path:
    path = tmp_path / "hello.py"
    path.write_text(SCRIPT)
    first, full = run("--python", sys.executable, path.name, "a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "greet 1.0 ['a']\n" and full
    assert len(stamps(tmp_path)) == 1
    return path


def test_an_unchanged_script_starts_without_loading_pyx(script: Path, tmp_path: Path) -> None:
    again, full = run("--python", sys.executable, script.name, "b", "c", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "greet 1.0 ['b', 'c']\n"
    assert not full


def test_editing_code_keeps_the_stamp_but_editing_metadata_does_not(script: Path, tmp_path: Path) -> None:
    script.write_text(SCRIPT.replace("print(greet.hi(), sys.argv[1:])", "print('edited', greet.hi())"))
    edited, full = run("--python", sys.executable, script.name, cwd=tmp_path)
    assert edited.stdout == "edited greet 1.0\n" and not full

    script.write_text(SCRIPT.replace('["greet"]', '["greet", "other"]').replace("import greet", "import greet, other"))
    changed, full = run("--python", sys.executable, script.name, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == "greet 1.0 []\n" and full  # `other` imported: the new environment
    again, full = run("--python", sys.executable, script.name, cwd=tmp_path)
    assert again.stdout == "greet 1.0 []\n" and not full


@pytest.mark.parametrize("change", ["variable", "option", "lock", "pip-config", "cwd"])
def test_any_input_that_could_change_the_environment_takes_the_full_path(
    script: Path, tmp_path: Path, change: str
) -> None:
    args: list = ["--python", sys.executable, script.name]
    env: dict = {}
    cwd = tmp_path
    if change == "variable":
        env = {"PYX_EXTRA_INDEX_URL": os.environ["PYX_INDEX_URL"]}
    elif change == "option":
        args = ["-q", *args]
    elif change == "lock":
        (tmp_path / "pylock.hello.toml").write_text('lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "x"\n')
    elif change == "pip-config":
        config = tmp_path / "pip.conf"
        config.write_text("[global]\n")
        env = {"PIP_CONFIG_FILE": str(config)}
        first, full = run(*args, cwd=cwd, env=env)
        assert full and first.returncode == 0, first.stderr
        config.write_text("[global]\ntimeout = 5\n")
    elif change == "cwd":
        cwd = tmp_path / "sub"
        cwd.mkdir()
        args = ["--python", sys.executable, f"../{script.name}"]
    done, full = run(*args, cwd=cwd, env=env)
    assert full, f"{change}: the stamp was trusted"


def test_a_removed_environment_is_rebuilt_not_exec_d(script: Path, tmp_path: Path) -> None:
    stamp = json.loads(stamps(tmp_path)[0].read_text())
    os.unlink(stamp["marker"])
    done, full = run("--python", sys.executable, script.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert full and done.stdout == "greet 1.0 []\n"
    assert Path(stamp["marker"]).is_file()


def test_forms_the_stamp_does_not_cover_take_the_full_path(script: Path, tmp_path: Path) -> None:
    with_req, full = run("--with", "other", "--python", sys.executable, script.name, cwd=tmp_path)
    assert with_req.returncode == 0, with_req.stderr
    assert full
    dashes, full = run("--python", sys.executable, script.name, "--", "-x", cwd=tmp_path)
    assert full and dashes.stdout == "greet 1.0 ['-x']\n"  # argparse's reading of `--` wins


def test_collecting_an_environment_drops_its_stamp(script: Path, tmp_path: Path) -> None:
    assert stamps(tmp_path)
    removed = gc(tmp_path / "data", max_age=-1)
    assert removed
    assert stamps(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["s.py"], ([], "s.py", [])),
        (["-q", "--python", "3.12", "s.py", "-q", "x"], (["-q", "--python", "3.12"], "s.py", ["-q", "x"])),
        (["--python=/usr/bin/python3", "s.pyw"], (["--python=/usr/bin/python3"], "s.pyw", [])),
        (["--with", "x", "s.py"], None),
        (["--locked", "s.py"], None),
        (["--pyth", "3.12", "s.py"], None),
        (["python", "-c", "pass"], None),
        (["s.py", "--", "x"], None),
        (["--python"], None),
        ([], None),
    ],
)
def test_parse_run_argv(argv: list[str], expected) -> None:
    assert runstamp.parse_run_argv(argv) == expected


def test_a_stamp_is_trusted_only_where_it_was_written(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    marker = tmp_path / "env" / "marker"
    marker.parent.mkdir()
    marker.write_text("{}")
    env = {"PYX_DATA_DIR": str(tmp_path / "data")}
    cwd = str(tmp_path)
    # written as if platformdirs had named another directory: never found by the fast path
    runstamp.record(["s.py"], env=env, cwd=cwd, version="1", data_dir=str(tmp_path / "elsewhere"),
                    python="/x/python", marker=str(marker), files=[])
    assert runstamp.ready_python(["s.py"], env, cwd, "1") is None
    runstamp.record(["s.py"], env=env, cwd=cwd, version="1", data_dir=str(tmp_path / "data"),
                    python="/x/python", marker=str(marker), files=[])
    assert runstamp.ready_python(["s.py"], env, cwd, "1") == ("/x/python", "s.py", [])
    assert runstamp.ready_python(["s.py"], env, cwd, "2") is None  # another pyx version
    stamp = next((tmp_path / "data" / runstamp.BUCKET).glob("*.json"))
    stamp.write_text("{not json")
    assert runstamp.ready_python(["s.py"], env, cwd, "1") is None


def test_fast_data_dir_matches_platformdirs(monkeypatch, tmp_path: Path) -> None:
    """Where the fast path looks is where platformdirs puts pyx's data (when it can say)."""
    import platformdirs

    from pyx_server.engine.envs.store import data_dir

    monkeypatch.delenv("PYX_DATA_DIR", raising=False)
    for xdg in (None, str(tmp_path / "xdg")):
        if xdg is None:
            monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_DATA_HOME", xdg)
        guesses = runstamp.fast_data_dirs(os.environ)
        if guesses:
            assert guesses == [platformdirs.user_data_dir("pyx", appauthor=False)] == [str(data_dir())]
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "d"))
    assert runstamp.fast_data_dirs(os.environ) == [str(data_dir())]
