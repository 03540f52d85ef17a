"""The declarative verbs end to end: scripts, notebooks and projects, locks, the environment store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import pyx


@pytest.fixture
def index(local_index, monkeypatch, tmp_path: Path):
    index = local_index()
    index.build("greet", "1.0", files={"greet/__init__.py": "def hi():\n    return 'greet 1.0'\n"}, requires_dist=["dep"])
    index.build("greet", "1.2", files={"greet/__init__.py": "def hi():\n    return 'greet 1.2'\n"}, requires_dist=["dep"])
    index.build("dep", "0.1")
    index.build("other", "3.0")
    monkeypatch.setenv("PYX_INDEX_URL", index.url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    return index


def pyx_run(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyx_server", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


def test_script_add_run_lock_sync(index, tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("#!/usr/bin/env python\nimport greet\nprint(greet.hi())\n")
    run = pyx("add", "greet", "--script", script, "--python", sys.executable)
    assert run.code == 0, run.err
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env python\n# /// script\n")
    assert '"greet>=1.2"' in text and text.endswith("import greet\nprint(greet.hi())\n")

    first = pyx_run("run", script, "--python", sys.executable, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "greet 1.2\n"
    index.clear_log()
    again = pyx_run("run", script, "--python", sys.executable, cwd=tmp_path)
    assert again.stdout == "greet 1.2\n"
    assert index.requests == []  # the stored environment is reused as it is

    assert pyx("lock", "--script", script, "--python", sys.executable).code == 0
    lock = tmp_path / "pylock.hello.toml"
    assert lock.is_file() and 'name = "greet"' in lock.read_text()
    run = pyx("sync", "--script", script, "--locked", "--python", sys.executable)
    assert run.code == 0, run.err
    # a declaration that changed makes the lock stale: --locked refuses, plain sync relocks
    script.write_text(script.read_text().replace('"greet>=1.2"', '"greet>=1.2",\n#     "other"'))
    stale = pyx("sync", "--script", script, "--locked", "--python", sys.executable)
    assert stale.code == 2 and "out of date" in stale.err
    assert pyx("sync", "--script", script, "--python", sys.executable).code == 0
    assert 'name = "other"' in lock.read_text()


def test_notebook_add_keeps_the_rest_of_the_notebook(index, tmp_path: Path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    cells = [
        {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Title\n"]},
        {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {},
         "outputs": [{"name": "stdout", "output_type": "stream", "text": ["42\n"]}], "source": ["print(42)"]},
    ]
    document = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(document, indent=1) + "\n")
    run = pyx("add", "greet", "--notebook", notebook, "--python", sys.executable)
    assert run.code == 0, run.err
    edited = json.loads(notebook.read_text())
    assert edited["cells"][-2:] == cells  # everything that was there is untouched
    assert "# /// script" in "".join(edited["cells"][0]["source"])
    sync = pyx("sync", "--notebook", notebook, "--python", sys.executable)
    assert sync.code == 0, sync.err
    env = Path(sync.err.split("at `", 1)[1].split("`", 1)[0])
    out = subprocess.run([env / "bin" / "python", "-c", "import greet; print(greet.hi())"], capture_output=True, text=True)
    assert out.stdout == "greet 1.2\n"


def test_project_add_sync_run_remove(index, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert pyx("init", project).code == 0
    assert (project / "pyproject.toml").is_file()
    run = pyx_run("add", "greet", "--python", sys.executable, cwd=project)
    assert run.returncode == 0, run.stderr
    assert '"greet>=1.2"' in (project / "pyproject.toml").read_text()
    assert (project / "pylock.toml").is_file()
    out = pyx_run("run", "python", "-c", "import greet; print(greet.hi())", cwd=project)
    assert out.stdout == "greet 1.2\n", out.stderr
    locked = pyx_run("sync", "--locked", cwd=project)
    assert locked.returncode == 0, locked.stderr
    removed = pyx_run("remove", "greet", cwd=project)
    assert removed.returncode == 0, removed.stderr
    assert "greet" not in (project / "pyproject.toml").read_text().split("dependencies", 1)[1]
    gone = subprocess.run([project / ".venv" / "bin" / "python", "-c", "import greet"], capture_output=True)
    assert gone.returncode != 0  # the exact sync removed it


def test_run_with_makes_an_ephemeral_environment(index, tmp_path: Path) -> None:
    out = pyx_run("run", "--with", "other", "--python", sys.executable, "python", "-c",
                  "import other; print(other.__version__)", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "3.0\n"


def test_malformed_inline_metadata_is_reported_and_nothing_runs(index, tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text("# /// script\n# dependencies = [\"greet\"\nprint('ran')\n")
    out = pyx_run("run", script, "--python", sys.executable, cwd=tmp_path)
    assert out.returncode == 2
    assert "bad.py" in out.stderr and "ran" not in out.stdout


def test_notebook_lock_travels_inside_the_notebook(index, tmp_path: Path) -> None:
    notebook = tmp_path / "shared.ipynb"
    cells = [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
              "source": ["import greet\n", "print(greet.hi())"]}]
    # JupyterLab's layout: sorted keys, one-space indent, non-ASCII kept, trailing newline
    document = {"cells": cells, "metadata": {"title": "café"}, "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert pyx("add", "greet", "--notebook", notebook, "--python", sys.executable).code == 0
    before = json.loads(notebook.read_text())
    run = pyx("lock", "--notebook", notebook, "--python", sys.executable)
    assert run.code == 0, run.err
    after = json.loads(notebook.read_text())
    assert 'name = "greet"' in after["metadata"]["pyx"]["pylock"]
    assert after["cells"] == before["cells"] and after["metadata"]["title"] == "café"
    assert not list(tmp_path.glob("pylock*.toml"))
    # the notebook alone is enough: copy it elsewhere and sync strictly from its own lock
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / "shared.ipynb"
    copy.write_bytes(notebook.read_bytes())
    run = pyx("sync", "--notebook", copy, "--locked", "--python", sys.executable)
    assert run.code == 0, run.err


def test_notebook_in_an_unknown_layout_gets_its_lock_beside_it(index, tmp_path: Path) -> None:
    notebook = tmp_path / "odd.ipynb"
    notebook.write_text('{"cells": [], "metadata": {},\n   "nbformat": 4, "nbformat_minor": 5}')
    assert pyx("add", "greet", "--notebook", notebook, "--python", sys.executable).code == 0
    text = notebook.read_text()
    assert pyx("lock", "--notebook", notebook, "--python", sys.executable).code == 0
    assert (tmp_path / "pylock.odd.toml").is_file()
    assert notebook.read_text() == text  # never reformatted


def test_uv_sources_route_a_package_to_its_index(index, local_index, tmp_path: Path) -> None:
    special = local_index()
    special.build("greet", "9.0+special", files={"greet/__init__.py": "def hi():\n    return 'special'\n"}, requires_dist=["dep"])
    script = tmp_path / "routed.py"
    script.write_text(
        "# /// script\n"
        '# dependencies = ["greet"]\n'
        "# [[tool.uv.index]]\n"
        '# name = "special"\n'
        f'# url = "{special.url}"\n'
        "# explicit = true\n"
        "# [tool.uv.sources]\n"
        '# greet = { index = "special" }\n'
        "# ///\n"
        "import greet\nprint(greet.hi())\n"
    )
    out = pyx_run("run", script, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "special\n"
    assert special.count("/simple/dep/") == 0  # only greet was routed there; dep came from the default index
