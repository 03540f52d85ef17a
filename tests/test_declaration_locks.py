"""Two `pyx add` processes on one declaration take turns: neither change is lost, and the
lock agrees with the declaration (scripts, notebooks and projects).

The interleaving that loses an update is forced, not hoped for: the first process's index
requests for its package are held until the second process has either asked the index for
its own package (it read the declaration while the first was still resolving: without a
declaration lock, the lost update is certain) or said that it waits for the first (the lock
works). No timing is involved.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pyx_server.engine.declared import read_declaration
from pyx_server.engine.declared.locking import read_current_lock, stale_reason
from tests.support import index_server


@pytest.fixture
def index(local_index, monkeypatch, tmp_path: Path):
    index = local_index()
    index.build("greet", "1.0", requires_dist=["dep"])
    index.build("dep", "0.1")
    index.build("alpha", "1.0")
    index.build("beta", "2.0")
    monkeypatch.setenv("PYX_INDEX_URL", index.url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    return index


class HeldRequests:
    """Holds the index's answers for one package's files and pages until released."""

    def __init__(self, monkeypatch, name: str) -> None:
        self.name = name
        self.released = threading.Event()
        #: every path asked for, when asked (the index's own log records answers)
        self.asked: list[str] = []
        real = index_server._Handler._route
        held = self

        def route(handler, path: str):
            held.asked.append(path)
            if f"/{name}/" in path or f"/{name}-" in path:
                held.released.wait(120)
            return real(handler, path)

        monkeypatch.setattr(index_server._Handler, "_route", route)


def start(*args: str | Path, cwd: Path, verbose: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pyx_server", *map(str, args), "--python", sys.executable,
                             *(["-v"] if verbose else [])], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_until(condition, what: str, limit: float = 120.0) -> None:
    """Poll a condition (the processes' progress, not a clock); the limit only stops a hang."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def race(index, monkeypatch, tmp_path: Path, first: list, second: list, cwd: Path) -> None:
    """Run ``first`` (adding alpha) and ``second`` (adding beta) so that without a lock the
    second reads the declaration while the first is between reading and writing it."""
    held = HeldRequests(monkeypatch, "alpha")
    a = start(*first, cwd=cwd)
    wait_until(lambda: any("/alpha/" in p for p in held.asked) or a.poll() is not None,
               "the first process asks for alpha")
    assert a.poll() is None, a.communicate()[1]
    b = start(*second, cwd=cwd, verbose=True)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(b.stderr), daemon=True)
    reader.start()
    wait_until(lambda: any("/beta/" in p for p in held.asked)
               or any("Waiting for another operation" in line for line in err_lines)
               or b.poll() is not None, "the second process reads the declaration or waits for the lock")
    held.released.set()
    _, a_err = a.communicate(timeout=120)
    b.wait(timeout=120)
    reader.join(10)
    assert a.returncode == 0, a_err
    assert b.returncode == 0, "".join(err_lines)


def assert_both_kept(declaration_path: Path) -> None:
    declaration = read_declaration(declaration_path)
    names = {r.name for r in declaration.requirements}
    assert {"alpha", "beta"} <= names, f"a change was lost: {sorted(names)}"
    lock = read_current_lock(declaration)
    assert lock is not None and {"alpha", "beta"} <= {p.name for p in lock.packages}
    assert stale_reason(declaration, lock) is None  # the lock agrees with the declaration


def test_two_adds_to_one_script_keep_both(index, monkeypatch, tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text('# /// script\n# dependencies = ["greet"]\n# ///\nprint(1)\n')
    assert subprocess.run([sys.executable, "-m", "pyx_server", "lock", "--script", str(script)], cwd=tmp_path,
                          capture_output=True).returncode == 0
    race(index, monkeypatch, tmp_path, ["add", "alpha", "--script", script], ["add", "beta", "--script", script],
         tmp_path)
    assert_both_kept(script)


def test_two_adds_to_one_notebook_keep_both(index, monkeypatch, tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    cells = [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
              "source": ["# /// script\n", "# dependencies = [\"greet\"]\n", "# ///"]}]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)
                        + "\n")
    assert subprocess.run([sys.executable, "-m", "pyx_server", "lock", "--notebook", str(notebook)], cwd=tmp_path,
                          capture_output=True).returncode == 0
    race(index, monkeypatch, tmp_path, ["add", "alpha", "--notebook", notebook],
         ["add", "beta", "--notebook", notebook], tmp_path)
    assert_both_kept(notebook)
    assert not (tmp_path / "pylock.nb.toml").exists()  # the lock lives inside the notebook


def test_two_adds_to_one_project_keep_both(index, monkeypatch, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = ["greet"]\n')
    race(index, monkeypatch, tmp_path, ["add", "alpha"], ["add", "beta"], project)
    assert_both_kept(project / "pyproject.toml")
    from pyx_server.engine.envs.environment import open_venv

    assert {"alpha", "beta", "greet", "dep"} <= set(open_venv(project / ".venv").installed())
