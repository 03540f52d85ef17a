"""The declarative use cases called as the Jupyter extension and the language server will:
plan then act (a failed add or remove leaves every file as it was), edits as data for an
unsaved buffer, a cheap status, the environment a run or a kernel needs, the tree as data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pyx_server.engine import api
from pyx_server.engine.errors import PyxError, UsageError
from pyx_server.engine.progress import CollectingReporter, DeclarationEdited, EnvironmentReady, LockWritten
from tests.support.cli import pyx


@pytest.fixture
def index(local_index, monkeypatch, tmp_path: Path):
    index = local_index()
    index.build("greet", "1.0", requires_dist=["dep"])
    index.build("greet", "1.2", requires_dist=["dep"])
    index.build("dep", "0.1")
    index.build("other", "3.0")
    monkeypatch.setenv("PYX_INDEX_URL", index.url)
    monkeypatch.setenv("PYX_DATA_DIR", str(tmp_path / "data"))
    return index


def context(tmp_path: Path, reporter=None) -> api.Context:
    ctx = api.Context.for_process(cwd=tmp_path, python=sys.executable)
    return ctx.replace(reporter=reporter) if reporter is not None else ctx


def notebook_text(source: list[str] | None = None) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
              "source": source or ["print(1)"]}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and ".venv" not in p.parts and "data" not in p.parts}


# -- a failed add or remove leaves every file as it was ---------------------------------------


def locked_declarations(tmp_path: Path) -> dict[str, str | None]:
    """A project, a script and a notebook, each declaring greet and locked."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = ["greet"]\n')
    (tmp_path / "s.py").write_text('# /// script\n# dependencies = ["greet"]\n# ///\nprint(1)\n')
    (tmp_path / "nb.ipynb").write_text(notebook_text(["# /// script\n", "# dependencies = [\"greet\"]\n", "# ///"]))
    ctx = context(tmp_path)
    for target in (project / "pyproject.toml", tmp_path / "s.py", tmp_path / "nb.ipynb"):
        api.run(api.lock(ctx, target))
    assert (project / "pylock.toml").is_file() and (tmp_path / "pylock.s.toml").is_file()
    assert "pylock" in json.loads((tmp_path / "nb.ipynb").read_text())["metadata"]["pyx"]
    return {"project": str(project / "pyproject.toml"), "script": str(tmp_path / "s.py"),
            "notebook": str(tmp_path / "nb.ipynb")}


@pytest.mark.parametrize("kind", ["project", "script", "notebook"])
def test_an_add_that_does_not_resolve_changes_no_file(index, tmp_path: Path, kind: str) -> None:
    targets = locked_declarations(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(PyxError) as failed:
        api.run(api.add(context(tmp_path), targets[kind], ["greet<0.1"], sync=False))
    assert failed.value.code == "no-solution"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["project", "script", "notebook"])
def test_a_remove_that_does_not_lock_changes_no_file(index, tmp_path: Path, kind: str) -> None:
    targets = locked_declarations(tmp_path)
    api.run(api.add(context(tmp_path), targets[kind], ["other"], sync=False))
    before = snapshot(tmp_path)
    # the index is gone: relocking without `other` cannot resolve, and nothing moves
    offline = context(tmp_path).replace(index=api.IndexRequest(index_url=(tmp_path / "no-such-index").as_uri()))
    with pytest.raises(PyxError):
        api.run(api.remove(offline, targets[kind], ["other"], sync=False))
    assert snapshot(tmp_path) == before


def test_the_cli_says_why_an_add_failed_and_not_added(index, tmp_path: Path) -> None:
    targets = locked_declarations(tmp_path)
    before = snapshot(tmp_path)
    run = pyx("add", "greet<0.1", "--no-sync", "--python", sys.executable, cwd=Path(targets["project"]).parent)
    assert run.code != 0
    assert "Added" not in run.output and "Updated the lock" not in run.output
    assert "`greet<0.1`" in run.err or "greet" in run.err
    assert snapshot(tmp_path) == before


# -- edits as data ------------------------------------------------------------------------------


def test_apply_false_returns_the_edits_of_an_unsaved_buffer_and_writes_nothing(index, tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("print('on disk')\n")
    buffer = "import greet\nprint('unsaved')\n"
    reporter = CollectingReporter()
    result = api.run(api.add(context(tmp_path, reporter), script, ["greet"], text=buffer, apply=False))
    assert script.read_text() == "print('on disk')\n"
    (edit,) = result.edits
    assert edit.path == script and edit.old_text == buffer
    assert '"greet>=1.2"' in edit.new_text and edit.new_text.endswith(buffer)
    assert result.requirements == ("greet>=1.2",) and not result.applied
    assert not any(isinstance(e, DeclarationEdited) for e in reporter.events)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data and data["edits"][0]["path"] == str(script)


def test_an_applied_add_reports_its_edit_and_lock_with_one_operation_id(index, tmp_path: Path) -> None:
    targets = locked_declarations(tmp_path)
    reporter = CollectingReporter()
    result = api.run(api.add(context(tmp_path, reporter), targets["notebook"], ["other"]))
    (edit,) = result.edits  # the notebook holds its declaration and its lock: one edit
    document = json.loads(Path(targets["notebook"]).read_text())
    assert "other" in "".join(document["cells"][0]["source"]) and 'name = "other"' in document["metadata"]["pyx"]["pylock"]
    kinds = {type(e) for e in reporter.events}
    assert {DeclarationEdited, LockWritten} <= kinds
    assert {e.operation for e in reporter.events} == {result.operation}


def test_add_to_a_script_or_notebook_refuses_groups(index, tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("print(1)\n")
    with pytest.raises(UsageError):
        api.run(api.add(context(tmp_path), tmp_path / "s.py", ["greet"], group="dev"))


# -- status -------------------------------------------------------------------------------------


def test_status_of_a_project_before_and_after_sync_without_the_network(index, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    api.run(api.init(context(tmp_path), project, name="proj", requires_python=">=3.8"))
    api.run(api.add(context(project), None, ["greet"], sync=False))
    first = api.run(api.status(context(project)))
    assert first.kind == "project" and first.declared == ("greet>=1.2",)
    assert not first.environment_exists and "no-environment" in {p.code for p in first.problems}
    assert {p.name: p.locked for p in first.packages} == {"greet": "1.2", "dep": "0.1"}

    api.run(api.sync(context(project)))
    index.clear_log()
    synced = api.run(api.status(context(project)))
    assert synced.in_sync, synced.problems
    assert {p.name: (p.locked, p.installed, p.state) for p in synced.packages if p.name != "proj"} == {
        "greet": ("1.2", "1.2", "ok"), "dep": ("0.1", "0.1", "ok")}
    assert index.requests == []  # no network, no resolution

    pyproject = project / "pyproject.toml"
    stale = api.run(api.status(context(project), pyproject, text=pyproject.read_text().replace('"greet>=1.2"', '"greet>=1.2", "other"')))
    assert "lock-stale" in {p.code for p in stale.problems}
    assert json.loads(json.dumps(stale.to_dict()))["python"]["version"] == stale.python_version


def test_status_of_a_script_names_its_environment_once_it_exists(index, tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text('# /// script\n# dependencies = ["greet"]\n# ///\n')
    before = api.run(api.status(context(tmp_path), script))
    assert not before.environment_exists and before.lock is None
    synced = api.run(api.sync(context(tmp_path), script))
    after = api.run(api.status(context(tmp_path), script))
    assert after.environment == synced.environment and after.environment_exists
    assert {p.name: p.installed for p in after.packages}.items() >= {"greet": "1.2", "dep": "0.1"}.items()
    assert after.in_sync, after.problems


# -- environment_for, run and tree --------------------------------------------------------------


def test_environment_for_a_with_list_outside_a_project_is_ephemeral(index, tmp_path: Path) -> None:
    reporter = CollectingReporter()
    info = api.run(api.environment_for(context(tmp_path, reporter), with_requirements=["other"]))
    assert info.kind == "ephemeral" and info.declaration is None and info.created
    assert info.python.is_file() and info.variables["VIRTUAL_ENV"] == str(info.prefix)
    assert info.variables["PATH"].startswith(str(info.prefix / "bin"))
    assert any(isinstance(e, EnvironmentReady) for e in reporter.events)
    again = api.run(api.environment_for(context(tmp_path), with_requirements=["other"]))
    assert again.prefix == info.prefix and not again.created


def test_run_of_a_notebook_says_what_to_do(index, tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(notebook_text())
    run = pyx("run", notebook, cwd=tmp_path)
    assert run.code != 0 and "was not found" not in run.err
    assert "not supported yet" in run.err and f"pyx sync --notebook {notebook}" in run.err


def test_tree_is_drawn_as_uv_draws_it(index, local_index, tmp_path: Path) -> None:
    index.build("top", "1.0", requires_dist=["greet", "mid"])
    index.build("mid", "2.0", requires_dist=["dep", "leaf"])
    index.build("leaf", "0.5")
    project = tmp_path / "proj"
    api.run(api.init(context(tmp_path), project, name="proj", requires_python=">=3.8"))
    api.run(api.add(context(project), None, ["top", "mid"], sync=False))
    result = api.run(api.tree(context(project)))
    assert result.root == "proj" and [d.name for d in result.dependencies] == ["top", "mid"]
    run = pyx("tree", "--python", sys.executable, cwd=project)
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "proj v0.1.0",
        "├── top v1.0",
        "│   ├── greet v1.2",
        "│   │   └── dep v0.1",
        "│   └── mid v2.0",
        "│       ├── dep v0.1",
        "│       └── leaf v0.5",
        "└── mid v2.0 (*)",
    ]


def test_apply_false_on_a_project_returns_the_declaration_and_its_lock_as_edits(index, tmp_path: Path) -> None:
    targets = locked_declarations(tmp_path)
    before = snapshot(tmp_path)
    result = api.run(api.add(context(tmp_path), targets["project"], ["other"], apply=False))
    assert snapshot(tmp_path) == before and result.synced is None  # nothing written, nothing synced
    by_role = {e.role: e for e in result.edits}
    assert set(by_role) == {"declaration", "lock"}
    assert '"other>=3.0"' in by_role["declaration"].new_text
    assert by_role["lock"].path == Path(targets["project"]).parent / "pylock.toml"
    assert 'name = "other"' in by_role["lock"].new_text


def test_status_of_an_unsaved_notebook_buffer(index, tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(notebook_text())
    buffer = notebook_text(["# /// script\n", "# dependencies = [\"greet>=1\"]\n", "# ///"])
    result = api.run(api.status(context(tmp_path), notebook, text=buffer))
    assert result.kind == "notebook" and result.declared == ("greet>=1",)
    assert [(p.name, p.state) for p in result.packages] == [("greet", "unlocked")]
    assert not result.environment_exists


def test_an_edit_that_must_not_wait_fails_with_busy_while_another_holds_the_declaration(index, tmp_path: Path) -> None:
    import threading

    from pyx_server.engine.api.targets import declaration_lock_file
    from pyx_server.engine.locks import hold_sync

    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    ctx = context(tmp_path)
    held, done = threading.Event(), threading.Event()

    def other_operation() -> None:
        with hold_sync(declaration_lock_file(ctx, script), what="s.py"):
            held.set()
            done.wait(60)

    thread = threading.Thread(target=other_operation)
    thread.start()
    try:
        assert held.wait(60)
        with pytest.raises(PyxError) as busy:
            api.run(api.add(ctx.replace(wait=False), script, ["other>=1"]))
        assert busy.value.code == "environment-busy"
        assert script.read_text() == "print(1)\n"
    finally:
        done.set()
        thread.join()
    api.run(api.add(ctx.replace(wait=False), script, ["other>=1"]))  # free again
    assert '"other>=1"' in script.read_text()


def test_a_notebook_whose_lock_lives_beside_it_keeps_it_there_through_an_add(index, tmp_path: Path) -> None:
    notebook = tmp_path / "odd.ipynb"  # a JSON layout pyx cannot reproduce: the lock goes beside it
    notebook.write_text('{"cells": [], "metadata": {},\n   "nbformat": 4, "nbformat_minor": 5}')
    ctx = context(tmp_path)
    api.run(api.add(ctx, notebook, ["greet"]))
    locked = api.run(api.lock(ctx, notebook))
    sidecar = tmp_path / "pylock.odd.toml"
    assert locked.lock == str(sidecar) and sidecar.is_file()
    result = api.run(api.add(ctx, notebook, ["other"]))
    assert result.lock == str(sidecar)
    assert sidecar.is_file() and 'name = "other"' in sidecar.read_text()
    assert "pylock" not in notebook.read_text()


def test_every_result_is_ready_for_json(index, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    ctx = context(tmp_path)
    results = [api.run(api.init(ctx, project, name="proj", requires_python=">=3.8"))]
    ctx = context(project)
    results += [api.run(api.add(ctx, None, ["greet"])), api.run(api.lock(ctx)), api.run(api.sync(ctx)),
                api.run(api.tree(ctx)), api.run(api.status(ctx)), api.run(api.environment_for(ctx)),
                api.run(api.remove(ctx, None, ["greet"]))]
    for result in results:
        data = result.to_dict()
        assert json.loads(json.dumps(data)) == data, type(result).__name__
    sync_data = results[3].to_dict()
    assert isinstance(sync_data["seconds"], float) and isinstance(sync_data["synced"]["audited"], int)
    assert results[0].to_dict()["path"] == str(project / "pyproject.toml")


def test_environment_for_a_notebook_is_what_its_kernel_runs_in(index, tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(notebook_text(["# /// script\n", "# dependencies = [\"greet\"]\n", "# ///"]))
    info = api.run(api.environment_for(context(tmp_path), notebook))
    assert info.kind == "notebook" and info.declaration == notebook and info.created
    synced = api.run(api.sync(context(tmp_path), notebook))
    assert Path(synced.environment) == info.prefix and not synced.created
