"""Malformed input, as a tester would write it: each is a coded error with its location, never a
traceback, and is read in linear time (sizes are chosen so that a quadratic reader would run
far past any timeout, while the linear one is instant: no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyx_server.engine import inline
from pyx_server.engine.errors import InlineMetadataError, PyxError
from pyx_server.engine.inline import nbmeta
from tests.support.cli import pyx

BLOCK = "# /// script\n# dependencies = []\n# ///\n"


def _notebook(path: Path, **top) -> Path:
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": BLOCK}]}
    document.update(top)
    path.write_text(json.dumps(document))
    return path


# -- notebooks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("metadata", "named"), [([], "a list"), (None, "`null`"), ("x", "a string")])
def test_notebook_metadata_that_is_not_an_object_is_a_coded_error(tmp_path: Path, metadata, named: str) -> None:
    path = _notebook(tmp_path / "nb.ipynb", metadata=metadata)
    before = path.read_bytes()
    for read in (lambda: nbmeta.read_lock_text(path), lambda: nbmeta.write_lock_text(path, "x"),
                 lambda: inline.read_notebook(path)):
        with pytest.raises(InlineMetadataError) as info:
            read()
        assert f"`metadata` is {named}, not an object" in info.value.message
        assert info.value.location.path == str(path)
    assert path.read_bytes() == before


def test_notebook_metadata_null_through_the_cli_is_one_error_line(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "nb.ipynb", metadata=None)
    run = pyx("sync", "--script", path, cwd=tmp_path)
    assert run.code != 0 and "Traceback" not in run.err
    assert run.err.startswith(f"{path}: error: not a notebook: `metadata` is `null`"), run.err


def test_deeply_nested_notebook_is_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.ipynb"
    path.write_text('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for read in (lambda: nbmeta.read_lock_text(path), lambda: inline.read_notebook(path)):
        with pytest.raises(InlineMetadataError, match="nested too deeply"):
            read()


@pytest.mark.parametrize(
    ("cells", "cell", "what"),
    [
        ({"a": 1}, None, "`cells` is not a list"),
        ([{"cell_type": "code", "source": "x"}, 3], 1, "not a cell object"),
        ([{"cell_type": "code", "source": 7}], 0, "`source` must be a string or a list of strings"),
        ([{"cell_type": "code", "source": ["a", None]}], 0, "`source` must be a string or a list of strings"),
    ],
)
def test_notebook_cells_of_the_wrong_shape_name_the_cell(tmp_path: Path, cells, cell, what: str) -> None:
    path = _notebook(tmp_path / "nb.ipynb", cells=cells)
    with pytest.raises(InlineMetadataError) as info:
        inline.read_notebook(path)
    assert what in info.value.message and info.value.location.cell == cell


def test_notebook_that_is_not_json_points_at_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text('{\n  "nbformat": 4,\n  "cells": [}\n')
    with pytest.raises(InlineMetadataError) as info:
        inline.read_notebook(path)
    location = info.value.location
    assert (location.line, location.column, location.cell) == (3, 13, None)
    run = pyx("sync", "--script", path, cwd=tmp_path)
    assert run.err.startswith(f"{path}:3:13: error: not valid JSON"), run.err


def test_invalid_toml_in_a_notebook_cell_names_the_cell_line_and_column(tmp_path: Path) -> None:
    source = "# /// script\n# dependencies = [\n# ///\n"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# title"},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}]
    path = _notebook(tmp_path / "nb.ipynb", cells=cells)
    with pytest.raises(InlineMetadataError) as info:
        inline.read_notebook(path)
    error = info.value
    assert error.location.cell == 1 and error.location.line is not None
    assert "cell" not in error.message and "line" not in error.message
    run = pyx("sync", "--script", path, cwd=tmp_path)
    assert run.err.startswith(f"{path}:cell 2:{error.location.line}"), run.err


def test_errors_are_json_ready(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "nb.ipynb", metadata=[])
    with pytest.raises(PyxError) as info:
        nbmeta.read_lock_text(path)
    data = json.loads(json.dumps(info.value.to_dict()))
    assert data["code"] == "invalid-inline-metadata" and data["location"]["path"] == str(path)


# -- package names --------------------------------------------------------------------------


def test_a_name_too_long_for_a_file_name_is_not_found_on_a_file_index(tmp_path: Path, cache_dir: Path) -> None:
    from pyx_server.engine.index.client import ProjectNotFound
    from tests.support.index_server import make_file_index
    from tests.support.wheels import build_wheel

    name = "a" * 256  # past NAME_MAX (255): the file system refuses to even look it up
    url = make_file_index(tmp_path / "tree", [build_wheel(tmp_path / "w", "demo", "1.0")])
    result = _index_run(url, cache_dir, lambda client: client.project(name))
    assert isinstance(result, ProjectNotFound) and result.name == name


@pytest.mark.parametrize("length", [256, 300_000])  # past NAME_MAX; past httpx's longest URL
def test_a_name_too_long_for_a_file_name_or_a_url_is_not_found_on_an_http_index(local_index, cache_dir: Path,
                                                                                 length: int) -> None:
    from pyx_server.engine.index.client import ProjectNotFound

    index = local_index()
    index.build("demo", "1.0")
    result = _index_run(index.url, cache_dir, lambda client: client.project("a" * length))
    assert isinstance(result, ProjectNotFound)


def test_a_requirements_line_of_a_huge_name_is_not_found_without_a_traceback(local_index, tmp_path: Path) -> None:
    index = local_index()
    index.build("demo", "1.0")
    (tmp_path / "r.txt").write_text("a" * 300_000 + "\n")
    run = pyx("pip", "compile", tmp_path / "r.txt", "--index-url", index.url, cwd=tmp_path)
    assert run.code != 0 and "Traceback" not in run.err and "was not found" in run.err, run.err[:500]


def test_a_file_url_too_long_for_a_file_name_reads_as_absent(tmp_path: Path) -> None:
    from pyx_server.engine.index.http import _read_file_url

    url = (tmp_path / ("a" * 256) / "index.json").as_uri()
    assert _read_file_url(url, url).status == 404


def _index_run(url: str, cache_dir: Path, job):
    import asyncio

    from pyx_server.engine.cache import Cache
    from pyx_server.engine.config import IndexSettings
    from pyx_server.engine.index.client import IndexClient

    async def go():
        async with IndexClient(IndexSettings(indexes=(url,), find_links=()), Cache(cache_dir), None, backoff=0.001) as client:
            return await job(client)

    return asyncio.run(go())


# -- interpreters -----------------------------------------------------------------------------

PYENV_SAYS = """pyenv: python3.12: command not found

The `python3.12' command exists in these Python versions:
  3.12.1
  3.12.4

Note: See 'pyenv help global' for tips on allowing both
      python2 and python3 to be found.
"""


def test_an_inactive_pyenv_shim_is_shown_with_all_pyenv_said(tmp_path: Path, cache_dir: Path) -> None:
    from pyx_server.engine.cache import Cache
    from pyx_server.engine.envs.interpreter import query_interpreter
    from pyx_server.engine.errors import InterpreterError

    shim = tmp_path / "shims" / "python3.12"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{PYENV_SAYS}EOF\nexit 127\n")
    shim.chmod(0o755)
    with pytest.raises(InterpreterError) as info:
        query_interpreter(shim, Cache(cache_dir))
    message = info.value.message
    assert "pyenv: python3.12: command not found" in message
    assert "3.12.1" in message and "3.12.4" in message  # the versions to choose from
    assert any("pyenv local" in hint for hint in info.value.hints)
    run = pyx("venv", tmp_path / "env", "--python", shim, cwd=tmp_path)
    assert run.code != 0 and "Traceback" not in run.err
    assert "  3.12.1" in run.err and "command not found" in run.err


def test_a_traceback_shows_its_last_line_and_keeps_the_rest_as_detail(tmp_path: Path, cache_dir: Path) -> None:
    from pyx_server.engine.cache import Cache
    from pyx_server.engine.envs.interpreter import query_interpreter
    from pyx_server.engine.errors import InterpreterError

    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho '  File x' >&2\n"
                      "echo 'ZeroDivisionError: division by zero' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(InterpreterError) as info:
        query_interpreter(broken, Cache(cache_dir))
    assert info.value.message.endswith(": ZeroDivisionError: division by zero")
    assert "File x" in info.value.detail


# -- locks, scripts, requirements files: the location is data and the CLI prints it first -------


def test_a_lock_with_wrong_types_is_reported_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\ndependencies = []\n')
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "x"\npackages = [{ name = 3 }]\n')
    run = pyx("sync", cwd=tmp_path)
    assert run.code != 0 and "Traceback" not in run.err
    assert run.err.startswith(f"{tmp_path / 'pylock.toml'}:3: error: `packages[0].name` must be a string"), run.err


def test_a_broken_lock_inside_a_notebook_points_at_the_notebook(tmp_path: Path) -> None:
    from pyx_server.engine.declared import read_current_lock, read_declaration
    from pyx_server.engine.errors import LockFileError

    path = _notebook(tmp_path / "nb.ipynb", metadata={"pyx": {"pylock": 'lock-version = "1.0"\npackages = [\n'}})
    with pytest.raises(LockFileError) as info:
        read_current_lock(read_declaration(path))
    assert info.value.location.path == str(path) and info.value.location.line is None
    assert info.value.message.startswith("the lock kept in `metadata.pyx.pylock`: not valid TOML")


def test_a_script_that_is_not_in_its_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_bytes(b"# /// script\n# dependencies = []\n# ///\nprint('\xff')\n")
    with pytest.raises(InlineMetadataError, match="^the file cannot be decoded as `utf-8`") as info:
        inline.read_script(path)
    assert (info.value.location.path, info.value.location.line) == (str(path), 4)


def test_a_bad_hash_in_a_requirements_file_is_printed_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("six\nsix --hash=sha256:zz\n")
    run = pyx("pip", "compile", tmp_path / "r.txt", cwd=tmp_path)
    assert run.code != 0
    assert run.err.startswith(f"{tmp_path / 'r.txt'}:2: error: `--hash=sha256:zz` is not a valid hash"), run.err


@pytest.mark.parametrize(("value", "what"), [('"x"', "must be an array of requirement strings"),
                                             ('["ok", 3]', "entry 2 of `project.dependencies` is not a string")])
def test_dependencies_of_the_wrong_type_point_at_their_line(tmp_path: Path, value: str, what: str) -> None:
    from pyx_server.engine.errors import ProjectError
    from pyx_server.engine.project import load_project

    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "p"\nversion = "1"\ndependencies = {value}\n')
    with pytest.raises(ProjectError, match=what) as info:
        load_project(path)
    assert (info.value.location.path, info.value.location.line) == (str(path), 4)


def test_toml_nested_past_the_parsers_recursion_is_a_coded_error(tmp_path: Path) -> None:
    from pyx_server.engine.errors import LockFileError
    from pyx_server.engine.lock import loads_lock, read_lock

    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "pylock.toml"
    path.write_text(f'lock-version = "1.0"\ncreated-by = "x"\npackages = []\nx = {deep}\n')
    with pytest.raises(LockFileError, match="nested too deeply") as info:
        read_lock(path)
    assert info.value.location.path == str(path)
    with pytest.raises(LockFileError, match="nested too deeply"):
        loads_lock("x = " + "{a=" * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(InlineMetadataError, match="nested too deeply") as info:
        inline.parse_script(f"# /// script\n# x = {deep}\n# ///\n", tmp_path / "s.py")
    assert info.value.location.line == 3  # no position from the parser: the block's closing line
