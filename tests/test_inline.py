"""PEP 723 inline metadata in scripts and notebooks: reading, errors, byte-preserving edits.

Every edited file is checked against the specification's own reference reader (``read``,
copied from PEP 723 below), so what pyx writes stays readable by any conforming tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tokenize
from pathlib import Path

import pytest

from pyx_server.engine import inline
from pyx_server.engine.errors import (
    DependencyNotFound,
    InlineMetadataError,
    InvalidRequirement,
    PyxError,
    UsageError,
)

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

DATA = Path(__file__).parent / "data" / "inline"
SCRIPTS = sorted((DATA / "scripts").glob("*.py"))
NOTEBOOKS = sorted((DATA / "notebooks").glob("*.ipynb"))


# -- the specification's reference implementation (PEP 723, "Reference Implementation") ------

REGEX = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"


def _loads(content: str) -> dict:
    if tomllib is not None:
        return tomllib.loads(content)
    import tomlkit

    return tomlkit.parse(content).unwrap()


def read(script: str) -> dict | None:
    name = "script"
    matches = list(filter(lambda m: m.group("type") == name, re.finditer(REGEX, script)))
    if len(matches) > 1:
        raise ValueError(f"Multiple {name} blocks found")
    elif len(matches) == 1:
        content = "".join(
            line[2:] if line.startswith("# ") else line[1:]
            for line in matches[0].group("content").splitlines(keepends=True)
        )
        return _loads(content)
    else:
        return None


def reference_read(path: Path) -> dict | None:
    """What a third-party tool following the specification reads from ``path``.

    A script is read as Python reads source (``tokenize.open``: its encoding, universal
    newlines); a notebook's block is the reference reader applied to each code cell, and at
    most one cell may hold one (the juv convention).
    """
    if path.suffix != ".ipynb":
        with tokenize.open(path) as handle:
            return read(handle.read())
    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if source.lstrip().startswith("%%"):
            continue
        data = read(source)
        if data is not None:
            found.append(data)
    assert len(found) <= 1, f"{path} has {len(found)} script blocks"
    return found[0] if found else None


def assert_agrees_with_reference(path: Path) -> inline.ScriptMetadata | None:
    """pyx and the reference reader see the same block (or both see none)."""
    meta = inline.read_metadata(path)
    expected = reference_read(path)
    if expected is None:
        assert meta is None
        return None
    assert meta is not None
    assert _loads(meta.raw) == expected
    assert list(meta.dependencies) == expected.get("dependencies", [])
    assert meta.requires_python == expected.get("requires-python")
    assert dict(meta.tool) == expected.get("tool", {})
    return meta


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path):
    """A private copy of a data file (edits never touch the originals)."""

    def make(relative: str) -> Path:
        target = tmp_path / Path(relative).name
        shutil.copyfile(DATA / relative, target)
        return target

    return make


def split(data: bytes) -> list[bytes]:
    """Lines with their terminators (``\\r\\n`` stays with its line)."""
    return data.splitlines(keepends=True)


def assert_only_block_changed(before: bytes, after: bytes, old: inline.ScriptMetadata | None, new: inline.ScriptMetadata) -> None:
    """Every line of a script outside the block is the same bytes, before and after the edit."""
    a, b = split(before), split(after)
    if old is None:  # a block was inserted: the lines around it are the original lines
        start, end = new.location.start_line - 1, new.location.end_line
        assert b[:start] + b[end:] in (a, _with_blank(a, start)), "lines outside the new block changed"
        return
    head_a, tail_a = a[: old.location.start_line - 1], a[old.location.end_line :]
    head_b, tail_b = b[: new.location.start_line - 1], b[new.location.end_line :]
    assert head_a == head_b
    # the closing line's terminator belongs to the rest of the file
    assert tail_a == tail_b
    assert a[old.location.end_line - 1].endswith(b"\n") == b[new.location.end_line - 1].endswith(b"\n")


def _with_blank(lines: list[bytes], at: int) -> list[bytes]:
    newline = b"\r\n" if any(line.endswith(b"\r\n") for line in lines) else b"\n"
    return lines[:at] + [newline] + lines[at:]


def lab_dumps(notebook: dict) -> str:
    """What JupyterLab (nbformat) saves: sorted keys, one-space indent, UTF-8, final newline."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def block_cell(path: Path) -> dict:
    meta = inline.read_notebook(path)
    assert meta is not None and meta.location.cell is not None
    return json.loads(path.read_text(encoding="utf-8"))["cells"][meta.location.cell]


# -- reading scripts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dependencies", "requires_python", "lines"),
    [
        ("plain.py", ("httpx>=0.27", "rich"), ">=3.11", (1, 7)),
        ("shebang.py", ("click>=8", "tabulate"), ">=3.10", (2, 5)),
        ("encoding.py", ("numpy<3",), None, (3, 7)),
        ("comments.py", ("torch>=2.3", "numpy ; python_version >= '3.12'", "pillow[avif]"), ">=3.11,<3.14", (8, 32)),
        ("crlf.py", ("requests<3",), ">=3.9", (1, 6)),
        ("no_trailing_newline.py", ("packaging",), None, (4, 6)),
        ("latin1.py", ("rich",), None, (3, 5)),
    ],
)
def test_read_script(name: str, dependencies: tuple[str, ...], requires_python: str | None, lines: tuple[int, int]) -> None:
    path = DATA / "scripts" / name
    meta = inline.read_script(path)
    assert meta is not None
    assert meta.dependencies == dependencies
    assert meta.requires_python == requires_python
    assert (meta.location.start_line, meta.location.end_line) == lines
    assert meta.location.path == path and meta.location.cell is None
    assert inline.read_metadata(path) == meta


def test_script_without_block_reads_none() -> None:
    assert inline.read_script(DATA / "scripts" / "no_block.py") is None


def test_other_block_types_are_ignored_and_tool_tables_are_read() -> None:
    meta = inline.read_script(DATA / "scripts" / "comments.py")
    assert meta is not None
    assert "free text" not in meta.raw  # the `# /// notes` block is not the script block
    assert meta.tool["pyx"] == {"variant": "cu124"}
    assert meta.uv_indexes == (inline.UvIndex(url="http://127.0.0.1:9/whl/cu124", name="pytorch-cu124", explicit=True),)
    assert meta.uv_sources == {"torch": {"index": "pytorch-cu124"}}
    assert [str(r.name) for r in meta.requirements] == ["torch", "numpy", "pillow"]


def test_raw_is_the_toml_without_comment_prefixes() -> None:
    meta = inline.read_script(DATA / "scripts" / "plain.py")
    assert meta is not None
    assert meta.raw == 'requires-python = ">=3.11"\ndependencies = [\n    "httpx>=0.27",\n    "rich",\n]\n'


@pytest.mark.parametrize(
    "text",
    [
        "x = 1  # /// script\n# dependencies = []\n# ///\n",  # opener not at a line start
        "# /// script \n# dependencies = []\n# ///\n",  # trailing blank: not an opener
        "#/// script\n# dependencies = []\n# ///\n",
    ],
)
def test_lines_that_are_not_openers(text: str) -> None:
    assert inline.parse_script(text, Path("t.py")) is None
    assert read(text) is None


def test_closing_line_is_the_last_in_the_comment_run() -> None:
    # the regex is greedy: a later `# ///` in the same run of comment lines closes the block
    text = '# /// script\n# embedded = """\n# ///\n# """\n# ///\n'
    meta = inline.parse_script(text, Path("t.py"))
    assert meta is not None and meta.location.end_line == 5
    assert _loads(meta.raw) == read(text) == {"embedded": "///\n"}


def test_block_inside_another_blocks_content_is_not_a_script_block() -> None:
    text = "# /// other\n# /// script\n# ///\n"
    assert inline.parse_script(text, Path("t.py")) is None
    assert read(text) is None


def test_bom_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbf# /// script\n# dependencies = ['six']\n# ///\nimport six\n")
    meta = inline.read_script(path)
    assert meta is not None and meta.dependencies == ("six",)
    inline.add_dependencies(path, ["attrs"])
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# /// script\n")
    assert inline.read_script(path).dependencies == ("attrs", "six")  # sorted list stays sorted


# -- reading notebooks -----------------------------------------------------------------------


def test_read_juv_notebook() -> None:
    meta = inline.read_notebook(DATA / "notebooks" / "juv.ipynb")
    assert meta is not None
    assert meta.dependencies == ("anywidget", "polars==1.9.0")
    assert meta.requires_python == ">=3.12"
    assert (meta.location.cell, meta.location.cell_id) == (0, "7d0b5e21")
    assert (meta.location.start_line, meta.location.end_line) == (1, 7)


def test_read_jupyterlab_notebook_with_block_and_outputs() -> None:
    meta = inline.read_metadata(DATA / "notebooks" / "lab_with_block.ipynb")
    assert meta is not None
    assert meta.dependencies == ("pandas>=2.2", "matplotlib", "ipywidgets>=8")
    assert meta.location.cell_id == "0f1e2d3c-4b5a-4968-8776-655443322110"


@pytest.mark.parametrize("name", ["lab_outputs.ipynb", "empty.ipynb", "string_sources.ipynb"])
def test_notebook_without_block_reads_none(name: str) -> None:
    assert inline.read_notebook(DATA / "notebooks" / name) is None


def test_cell_magic_cells_are_not_the_notebooks_block() -> None:
    # the `%%writefile fetch.py` cell holds a block for another file
    assert inline.read_notebook(DATA / "notebooks" / "writefile.ipynb") is None


@pytest.mark.parametrize("path", SCRIPTS + NOTEBOOKS, ids=lambda p: p.name)
def test_reference_reader_agrees_on_every_data_file(path: Path) -> None:
    assert_agrees_with_reference(path)


# -- malformed metadata ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "where", "what"),
    [
        # where: the fields of the error's location (cells count from 0, lines and columns from 1)
        ("unclosed.py", {"line": 1}, "never closed with `# ///`"),
        ("missing_space.py", {"line": 1}, "never closed with `# ///`"),
        ("two_blocks.py", {"line": 7}, "more than one `# /// script` block (they start at lines 1, 7)"),
        ("bad_toml.py", {"line": 6, "column": 15}, "not valid TOML"),
        ("deps_not_list.py", {"line": 3}, "`dependencies` must be an array of strings, not `'numpy'`"),
        ("deps_not_strings.py", {"line": 4}, "`{'name': 'scipy'}` is not a string"),
        ("bad_requirement.py", {"line": 4}, "`scipy>>1.0` in `dependencies` is not a valid requirement"),
        ("bad_requires_python.py", {"line": 2}, "not a valid version specifier: `3.11+`"),
        ("bad_uv_index.py", {"line": 4}, "`tool.uv.index` has no `url` string"),
        ("not_json.ipynb", {"line": 3, "cell": None}, "not valid JSON"),
        ("nbformat3.ipynb", {"line": None, "cell": None}, "nbformat `3` is not supported"),
        ("two_blocks.ipynb", {"cell": 2, "line": 2}, "a second `# /// script` block"),
        ("bad_toml.ipynb", {"cell": 1, "line": 5, "column": 7}, "not valid TOML"),
    ],
)
def test_malformed_metadata_is_reported_and_nothing_is_written(copy, name: str, where: dict, what: str) -> None:
    path = copy(f"malformed/{name}")
    before = path.read_bytes()
    with pytest.raises(InlineMetadataError) as info:
        inline.read_metadata(path)
    error = info.value
    assert error.code == "invalid-inline-metadata"
    assert error.location is not None and error.location.path == str(path)
    assert {key: getattr(error.location, key) for key in where} == where
    assert what in error.message
    # the message holds no location: the fronts place it
    assert str(path) not in error.message and "line" not in error.message.replace("lines 1, 7", "")
    for change in (
        lambda: inline.add_dependencies(path, ["attrs"]),
        lambda: inline.remove_dependencies(path, ["numpy"]),
        lambda: inline.set_requires_python(path, ">=3.12"),
        lambda: inline.set_tool_table(path, "pyx.variant", "cpu"),
    ):
        with pytest.raises(InlineMetadataError):
            change()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_unclosed_error_explains_the_comment_rule() -> None:
    with pytest.raises(InlineMetadataError) as info:
        inline.read_script(DATA / "malformed" / "missing_space.py")
    assert any("must be `#` alone or start with `# `" in hint for hint in info.value.hints)


def test_notebook_errors_carry_the_cell_number() -> None:
    with pytest.raises(InlineMetadataError) as info:
        inline.read_notebook(DATA / "malformed" / "bad_toml.ipynb")
    location = info.value.location
    assert (location.path, location.cell, location.line) == (str(DATA / "malformed" / "bad_toml.ipynb"), 1, 5)
    assert info.value.context == {"cell_id": "bb000002"}


def test_undecodable_script(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"# /// script\n# dependencies = []\n# ///\nprint('\xff')\n")
    with pytest.raises(InlineMetadataError, match="cannot be decoded as `utf-8`"):
        inline.read_script(path)


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        inline.read_script(tmp_path / "nope.py")


# -- editing scripts -------------------------------------------------------------------------


def edit_and_check(path: Path, change) -> inline.ScriptMetadata:
    """Apply ``change``; everything outside the block is unchanged; the reference agrees.

    For a script that is every line outside the block, compared as bytes. For a notebook it
    is every cell but the block's and every field of that cell but its source; the notebook
    tests also compare the whole file's bytes with what its writer would have saved.
    """
    before = path.read_bytes()
    old = inline.read_metadata(path)
    new = change(path)
    if path.suffix == ".ipynb":
        assert_only_block_cell_source_changed(before, path.read_bytes(), old, new)
    else:
        assert_only_block_changed(before, path.read_bytes(), old, new)
    assert assert_agrees_with_reference(path) == new
    return new


def assert_only_block_cell_source_changed(before: bytes, after: bytes, old, new) -> None:
    a, b = json.loads(before), json.loads(after)
    if old is None:
        assert b["cells"][1:] == a["cells"] and new.location.cell == 0
        b["cells"] = b["cells"][1:]
    else:
        assert new.location.cell == old.location.cell
        b["cells"][new.location.cell]["source"] = a["cells"][old.location.cell]["source"]
    assert a == b
    assert list(a) == list(json.loads(after))  # key order too


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_add_then_remove_round_trips_every_script(copy, path: Path) -> None:
    target = copy(f"scripts/{path.name}")
    original = target.read_bytes()
    declared = inline.read_script(target)
    meta = edit_and_check(target, lambda p: inline.add_dependencies(p, ["tqdm>=4.66"]))
    assert "tqdm>=4.66" in meta.dependencies
    meta = edit_and_check(target, lambda p: inline.remove_dependencies(p, ["TQDM"]))
    assert meta.dependencies == (declared.dependencies if declared else ())
    if declared is not None and "\n" in declared.raw.split("dependencies", 1)[1].split("]", 1)[0]:
        # a multi-line array goes back to exactly what it was
        assert target.read_bytes() == original


def test_add_creates_block_after_shebang_and_encoding_line(tmp_path: Path) -> None:
    path = tmp_path / "tool.py"
    path.write_bytes(b"#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport sys\nprint(sys.argv)\n")
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["rich"], requires_python=">=3.11"))
    assert path.read_text() == (
        "#!/usr/bin/env python3\n"
        "# -*- coding: utf-8 -*-\n"
        "# /// script\n"
        '# requires-python = ">=3.11"\n'
        "# dependencies = [\n"
        '#     "rich",\n'
        "# ]\n"
        "# ///\n"
        "\n"
        "import sys\n"
        "print(sys.argv)\n"
    )
    assert (meta.location.start_line, meta.location.end_line) == (3, 8)
    with open(path, "rb") as handle:  # the encoding declaration still counts (line 2)
        assert tokenize.detect_encoding(handle.readline)[1][-1] == b"# -*- coding: utf-8 -*-\n"


def test_add_creates_block_at_the_top(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text("# a leading comment\nprint(1)\n")
    edit_and_check(path, lambda p: inline.add_dependencies(p, ["six"]))
    # a blank line keeps the comment out of the block, as uv writes it
    assert path.read_text() == '# /// script\n# dependencies = [\n#     "six",\n# ]\n# ///\n\n# a leading comment\nprint(1)\n'


def test_add_creates_block_in_empty_file_and_after_bare_shebang(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("")
    inline.add_dependencies(empty, ["six"])
    assert empty.read_text() == '# /// script\n# dependencies = [\n#     "six",\n# ]\n# ///\n'
    bare = tmp_path / "bare.py"
    bare.write_text("#!/usr/bin/env python3")  # no newline at all
    inline.set_requires_python(bare, ">=3.12")
    assert bare.read_text() == '#!/usr/bin/env python3\n# /// script\n# requires-python = ">=3.12"\n# ///\n'
    assert reference_read(bare) == {"requires-python": ">=3.12"}


def test_crlf_script_stays_crlf(copy) -> None:
    path = copy("scripts/crlf.py")
    edit_and_check(path, lambda p: inline.add_dependencies(p, ["urllib3<3"]))
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(b'# /// script\r\n# requires-python = ">=3.9"\r\n# dependencies = [\r\n#     "requests<3",\r\n#     "urllib3<3",\r\n# ]\r\n# ///\r\n\r\nimport requests\r\n')


def test_crlf_script_without_block_gets_a_crlf_block(tmp_path: Path) -> None:
    path = tmp_path / "w.py"
    path.write_bytes(b"import os\r\nprint(os.name)\r\n")
    edit_and_check(path, lambda p: inline.add_dependencies(p, ["colorama"]))
    assert path.read_bytes() == b'# /// script\r\n# dependencies = [\r\n#     "colorama",\r\n# ]\r\n# ///\r\n\r\nimport os\r\nprint(os.name)\r\n'


def test_file_without_trailing_newline_keeps_it(copy) -> None:
    path = copy("scripts/no_trailing_newline.py")
    edit_and_check(path, lambda p: inline.add_dependencies(p, ["attrs"]))
    data = path.read_bytes()
    assert data.endswith(b"# ///") and data.startswith(b"import sys\n\nprint(sys.version)\n# /// script\n")


def test_latin1_script_is_written_back_in_latin1(copy) -> None:
    path = copy("scripts/latin1.py")
    edit_and_check(path, lambda p: inline.add_dependencies(p, ["click"]))
    assert path.read_bytes().endswith(b'print("caf\xe9")\n')


def test_comments_and_layout_of_the_toml_survive(copy) -> None:
    path = copy("scripts/comments.py")
    before = inline.read_script(path).raw
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["Torch>=2.4"]))
    # replaced in place: same position, same trailing comment, the rest untouched
    assert meta.raw == before.replace('"torch>=2.3",       # GPU', '"Torch>=2.4",       # GPU')
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["einops"]))
    assert meta.raw.count("\n") == before.count("\n") + 1
    assert '  "pillow[avif]",\n  "einops",\n]' in meta.raw  # the list was not sorted: appended, 2-space indent kept


def test_sorted_list_gets_sorted_insert_and_single_line_array_becomes_multiline(copy) -> None:
    path = copy("scripts/shebang.py")
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["pyyaml"]))
    assert meta.dependencies == ("click>=8", "pyyaml", "tabulate")
    assert 'dependencies = [\n    "click>=8",\n    "pyyaml",\n    "tabulate",\n]\n' in meta.raw


def test_replace_keeps_position_and_respects_markers(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        "# /// script\n# dependencies = [\n#   \"zarr\",\n#   \"numpy<2; python_version < '3.9'\",\n#   \"Numpy>=2\",\n#   \"attrs\",\n# ]\n# ///\n"
    )
    meta = inline.add_dependencies(path, ["numpy>=2.1"])
    assert meta.dependencies == ("zarr", "numpy<2; python_version < '3.9'", "numpy>=2.1", "attrs")
    meta = inline.add_dependencies(path, ['numpy<1.25; python_version < "3.9"'])
    assert meta.dependencies == ("zarr", "numpy<1.25; python_version < \"3.9\"", "numpy>=2.1", "attrs")
    meta = inline.add_dependencies(path, ["zarr>=2"], replace_same_name=False)
    assert meta.dependencies[-1] == "zarr>=2" and meta.dependencies[0] == "zarr"
    assert reference_read(path)["dependencies"] == list(meta.dependencies)
    meta = inline.remove_dependencies(path, ["NumPy", "zarr"])
    assert meta.dependencies == ("attrs",)


def test_adding_what_is_declared_does_not_rewrite_the_file(copy) -> None:
    path = copy("scripts/plain.py")
    before = os.stat(path)
    meta = inline.add_dependencies(path, ["rich"])
    assert meta.dependencies == ("httpx>=0.27", "rich")
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_remove_undeclared_name_is_an_error_and_writes_nothing(copy) -> None:
    path = copy("scripts/plain.py")
    before = path.read_bytes()
    with pytest.raises(DependencyNotFound) as info:
        inline.remove_dependencies(path, ["rich", "flask"])
    assert "`flask` is not declared" in info.value.message and info.value.location.path == str(path)
    assert "`httpx>=0.27`" in info.value.hints[0]
    assert path.read_bytes() == before  # `rich` was not removed either


def test_remove_from_a_script_without_block(copy) -> None:
    path = copy("scripts/no_block.py")
    with pytest.raises(DependencyNotFound, match="has no `# /// script` block"):
        inline.remove_dependencies(path, ["rich"])


def test_invalid_input_is_refused_before_writing(copy) -> None:
    path = copy("scripts/plain.py")
    before = path.read_bytes()
    with pytest.raises(InvalidRequirement, match="`numpy>>2`"):
        inline.add_dependencies(path, ["attrs", "numpy>>2"])
    with pytest.raises(UsageError, match=r"`3\.11\+` is not a valid `requires-python`"):
        inline.set_requires_python(path, "3.11+")
    assert path.read_bytes() == before


def test_set_requires_python(copy, tmp_path: Path) -> None:
    path = copy("scripts/plain.py")
    meta = edit_and_check(path, lambda p: inline.set_requires_python(p, ">=3.12"))
    assert meta.requires_python == ">=3.12"
    assert meta.raw.startswith('requires-python = ">=3.12"\ndependencies')
    path = copy("scripts/encoding.py")
    meta = edit_and_check(path, lambda p: inline.set_requires_python(p, " >=3.9, <4 "))
    assert meta.raw.startswith('requires-python = "<4,>=3.9"\ndependencies = [\n  "numpy<3",\n]')


UV_TABLES = """\
# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch",
# ]
#
# [[tool.uv.index]]
# name = "pytorch-cu121"
# url = "http://127.0.0.1:9/whl/cu121"
# explicit = true
#
# [tool.uv.sources]
# torch = { index = "pytorch-cu121" }
# ///
"""


def test_tool_tables_are_written_as_uv_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "gpu.py"
    path.write_text('# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n#     "torch",\n# ]\n# ///\n')
    index = {"name": "pytorch-cu121", "url": "http://127.0.0.1:9/whl/cu121", "explicit": True}
    inline.set_tool_table(path, "uv.index", [index])
    meta = inline.set_tool_table(path, "uv.sources.torch", {"index": "pytorch-cu121"})
    assert path.read_text() == UV_TABLES
    assert meta.uv_indexes == (inline.UvIndex(url=index["url"], name="pytorch-cu121", explicit=True),)
    assert reference_read(path)["tool"] == {"uv": {"index": [index], "sources": {"torch": {"index": "pytorch-cu121"}}}}
    # a second index and source are added beside the first, one blank line apart
    inline.set_tool_table(path, "uv.index", [index, {"name": "cpu", "url": "http://127.0.0.1:9/whl/cpu", "explicit": True}])
    meta = inline.set_tool_table(path, "uv.sources.torchvision", {"index": "pytorch-cu121"})
    text = path.read_text()
    assert '# explicit = true\n#\n# [[tool.uv.index]]\n# name = "cpu"\n' in text
    assert '# url = "http://127.0.0.1:9/whl/cpu"\n# explicit = true\n#\n# [tool.uv.sources]\n' in text
    assert '# torch = { index = "pytorch-cu121" }\n# torchvision = { index = "pytorch-cu121" }\n# ///\n' in text
    assert set(meta.uv_sources) == {"torch", "torchvision"}
    # None removes an entry
    meta = inline.set_tool_table(path, "uv.sources.torchvision", None)
    assert set(meta.uv_sources) == {"torch"}
    assert_agrees_with_reference(path)


def test_tool_table_update_keeps_comments_and_other_keys(copy) -> None:
    path = copy("scripts/comments.py")
    before = inline.read_script(path).raw
    meta = edit_and_check(path, lambda p: inline.set_tool_table(p, "pyx", {"variant": "cpu"}))
    assert meta.raw == before.replace('variant = "cu124"', 'variant = "cpu"')
    meta = edit_and_check(path, lambda p: inline.set_tool_table(p, "uv.sources.torch", {"index": "pytorch-cpu"}))
    assert meta.raw == before.replace('variant = "cu124"', 'variant = "cpu"').replace(
        'torch = { index = "pytorch-cu124" }', 'torch = { index = "pytorch-cpu" }'
    )
    current = inline.tool_value(meta, "uv.index")
    meta = inline.set_tool_table(path, "uv.index", [{**current[0], "url": "http://127.0.0.1:9/whl/cpu", "name": "pytorch-cpu"}])
    assert meta.uv_indexes[0].name == "pytorch-cpu" and "# resolution-critical" in meta.raw
    assert inline.tool_value(meta, "uv.exclude-newer") == "2025-06-01T00:00:00Z"
    assert inline.tool_value(meta, "uv.nothing.here") is None


def test_set_tool_table_on_a_non_table_is_refused(copy) -> None:
    path = copy("scripts/comments.py")
    before = path.read_bytes()
    with pytest.raises(UsageError, match="`tool.uv.exclude-newer` is not a table"):
        inline.set_tool_table(path, "uv.exclude-newer.x", 1)
    assert path.read_bytes() == before


def test_edit_keeps_mode_and_follows_symlinks(copy) -> None:
    path = copy("scripts/shebang.py")
    path.chmod(0o755)
    link = path.with_name("link.py")
    link.symlink_to(path.name)
    inline.add_dependencies(link, ["pyyaml"])
    assert link.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert "pyyaml" in inline.read_script(path).dependencies
    assert sorted(p.name for p in path.parent.iterdir()) == ["link.py", "shebang.py"]


def test_apply_edit_is_pure(copy) -> None:
    path = copy("scripts/plain.py")
    before = path.read_bytes()
    text, meta = inline.apply_edit(before.decode(), path, inline.AddDependencies(("anyio",)))
    assert path.read_bytes() == before
    assert meta.dependencies == ("anyio", "httpx>=0.27", "rich")
    assert inline.parse_script(text, path) == meta


# -- editing notebooks -----------------------------------------------------------------------


def test_juv_notebook_edit_changes_only_the_block_lines(copy) -> None:
    path = copy("notebooks/juv.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["numpy"]))
    assert meta.dependencies == ("anywidget", "numpy", "polars==1.9.0")
    text = path.read_text(encoding="utf-8")
    expected = json.loads(json.dumps(before))
    expected["cells"][0]["source"] = [
        "# /// script\n",
        '# requires-python = ">=3.12"\n',
        "# dependencies = [\n",
        '#     "anywidget",\n',
        '#     "numpy",\n',
        '#     "polars==1.9.0",\n',
        "# ]\n",
        "# ///",
    ]
    # juv's own serialization (nbformat's, without a final newline), with only that source changed
    assert text == json.dumps(expected, sort_keys=True, indent=1, ensure_ascii=False)
    assert block_cell(path)["metadata"] == {"jupyter": {"source_hidden": True}}


def test_jupyterlab_notebook_with_outputs_is_preserved_byte_for_byte(copy) -> None:
    path = copy("notebooks/lab_with_block.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    edit_and_check(path, lambda p: inline.remove_dependencies(p, ["matplotlib"]))
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["seaborn>=0.13"]))
    assert meta.dependencies == ("pandas>=2.2", "ipywidgets>=8", "seaborn>=0.13")
    after_text = path.read_text(encoding="utf-8")
    after = json.loads(after_text)
    expected = json.loads(json.dumps(before))
    expected["cells"][0]["source"] = after["cells"][0]["source"]
    assert after_text == lab_dumps(expected)  # outputs, image data, widget state, ids: untouched
    assert after["cells"][0]["source"] == [
        "# /// script\n",
        '# requires-python = ">=3.11"\n',
        "# dependencies = [\n",
        '#     "pandas>=2.2",  # dataframes\n',
        '#     "ipywidgets>=8",\n',
        '#     "seaborn>=0.13",\n',
        "# ]\n",
        "# ///\n",
        "\n",
        "%matplotlib inline",
    ]


def test_new_block_in_jupyterlab_notebook_is_a_hidden_top_cell_like_juvs(copy) -> None:
    path = copy("notebooks/lab_outputs.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    meta = inline.add_dependencies(path, ["polars==1", "anywidget"], requires_python=">=3.11")
    assert (meta.location.cell, meta.location.start_line) == (0, 1)
    after_text = path.read_text(encoding="utf-8")
    after = json.loads(after_text)
    new_cell = after["cells"][0]
    # the cell juv writes (its `add` test): hidden, no outputs, the block alone, no final newline
    assert new_cell == {
        "cell_type": "code",
        "execution_count": None,
        "id": new_cell["id"],
        "metadata": {"jupyter": {"source_hidden": True}},
        "outputs": [],
        "source": [
            "# /// script\n",
            '# requires-python = ">=3.11"\n',
            "# dependencies = [\n",
            '#     "anywidget",\n',
            '#     "polars==1",\n',
            "# ]\n",
            "# ///",
        ],
    }
    assert re.fullmatch(r"[0-9a-f]{8}", new_cell["id"])
    assert new_cell["id"] not in {c["id"] for c in before["cells"]}
    expected = json.loads(json.dumps(before))
    expected["cells"].insert(0, new_cell)
    assert after_text == lab_dumps(expected)
    assert "Température moyenne 🌡️" in after_text  # non-ASCII stays unescaped, as JupyterLab writes it
    assert_agrees_with_reference(path)


def test_new_block_in_empty_notebook(copy) -> None:
    path = copy("notebooks/empty.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    inline.add_dependencies(path, ["six"])
    after_text = path.read_text(encoding="utf-8")
    expected = json.loads(json.dumps(before))
    expected["cells"] = [json.loads(after_text)["cells"][0]]
    assert after_text == lab_dumps(expected)
    assert_agrees_with_reference(path)


def test_notebook_with_string_sources_and_other_formatting(copy) -> None:
    path = copy("notebooks/string_sources.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    meta = inline.add_dependencies(path, ["cafe-tools"])
    assert meta.location.cell_id is None  # nbformat 4.4: no cell ids
    after_text = path.read_text(encoding="utf-8")
    after = json.loads(after_text)
    assert after["cells"][0] == {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"jupyter": {"source_hidden": True}},
        "outputs": [],
        "source": '# /// script\n# dependencies = [\n#     "cafe-tools",\n# ]\n# ///',
    }
    expected = json.loads(json.dumps(before))
    expected["cells"].insert(0, after["cells"][0])
    # the file's own style: two-space indent, ASCII escapes, its key order, final newline
    assert after_text == json.dumps(expected, indent=2, ensure_ascii=True) + "\n"
    meta = inline.add_dependencies(path, ["numpy"])
    assert json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"].endswith('#     "numpy",\n# ]\n# ///')
    assert_agrees_with_reference(path)


def test_writefile_notebook_gets_its_own_block(copy) -> None:
    path = copy("notebooks/writefile.ipynb")
    meta = inline.add_dependencies(path, ["httpx"])
    assert meta.location.cell == 0
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[2]["source"][0] == "%%writefile fetch.py\n"  # the tutorial cell is untouched
    assert_agrees_with_reference(path)


def test_notebook_tool_tables_and_requires_python(copy) -> None:
    path = copy("notebooks/juv.ipynb")
    inline.set_tool_table(path, "uv.index", [{"url": "http://127.0.0.1:9/neuron/"}])
    meta = edit_and_check(path, lambda p: inline.set_requires_python(p, ">=3.13"))
    assert block_cell(path)["source"] == [
        "# /// script\n",
        '# requires-python = ">=3.13"\n',
        "# dependencies = [\n",
        '#     "anywidget",\n',
        '#     "polars==1.9.0",\n',
        "# ]\n",
        "#\n",
        "# [[tool.uv.index]]\n",
        '# url = "http://127.0.0.1:9/neuron/"\n',
        "# ///",
    ]
    assert meta.uv_indexes == (inline.UvIndex(url="http://127.0.0.1:9/neuron/"),)


def test_notebook_apply_edit_is_pure(copy) -> None:
    path = copy("notebooks/lab_with_block.ipynb")
    before = path.read_bytes()
    text, meta = inline.apply_edit(before.decode(), path, inline.RemoveDependencies(("pandas",)))
    assert path.read_bytes() == before
    assert inline.parse_notebook(text, path) == meta and "pandas>=2.2" not in meta.dependencies


# -- the environment key ---------------------------------------------------------------------


def _meta(text: str) -> inline.ScriptMetadata:
    meta = inline.parse_script(text, Path("k.py"))
    assert meta is not None
    return meta


def test_metadata_key_ignores_order_spelling_and_layout() -> None:
    a = _meta('# /// script\n# dependencies = ["Requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# ///\n')
    b = _meta(
        "# /// script\n# requires-python = '>= 3.11'\n# dependencies = [\n#   'rich',  # pretty\n#   'requests <3, >=2',\n#   'rich',\n# ]\n# ///\n"
    )
    assert inline.metadata_key(a) == inline.metadata_key(b)
    assert re.fullmatch(r"[0-9a-f]{32}", inline.metadata_key(a))


@pytest.mark.parametrize(
    "other",
    [
        '# dependencies = ["requests>=2,<3", "rich>=13"]\n# requires-python = ">=3.11"\n',
        '# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.12"\n',
        '# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# [tool.uv]\n# exclude-newer = "2025-01-01T00:00:00Z"\n',
        '# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# [[tool.uv.index]]\n# url = "http://127.0.0.1:9/cpu"\n',
        '# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# [tool.uv.sources]\n# rich = { index = "x" }\n',
        '# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# [tool.pyx]\n# variant = "cu121"\n',
        '# dependencies = ["requests[socks]>=2,<3", "rich"]\n# requires-python = ">=3.11"\n',
    ],
)
def test_metadata_key_changes_with_what_gets_installed(other: str) -> None:
    base = _meta('# /// script\n# dependencies = ["requests>=2,<3", "rich"]\n# requires-python = ">=3.11"\n# ///\n')
    assert inline.metadata_key(_meta(f"# /// script\n{other}# ///\n")) != inline.metadata_key(base)


def test_metadata_key_ignores_tool_settings_that_do_not_change_the_environment() -> None:
    base = _meta('# /// script\n# dependencies = ["rich"]\n# ///\n')
    other = _meta('# /// script\n# dependencies = ["rich"]\n# [tool.ruff]\n# line-length = 100\n# ///\n')
    assert inline.metadata_key(base) == inline.metadata_key(other)


def test_errors_are_pyx_errors_with_json_form() -> None:
    with pytest.raises(PyxError) as info:
        inline.read_script(DATA / "malformed" / "two_blocks.py")
    data = info.value.to_dict()
    assert data["code"] == "invalid-inline-metadata"
    assert data["location"]["line"] == 7 and data["location"]["path"].endswith("two_blocks.py")
    assert json.loads(json.dumps(data))["location"]["line"] == 7  # numbers stay numbers


def test_empty_block_is_read_as_uv_reads_it_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "e.py"
    path.write_text("# /// script\n# ///\nprint()\n")
    meta = inline.read_script(path)
    assert meta is not None and meta.dependencies == () and (meta.location.start_line, meta.location.end_line) == (1, 2)
    meta = inline.set_tool_table(path, "pyx", {"variant": "cpu"})
    assert path.read_text() == '# /// script\n# [tool.pyx]\n# variant = "cpu"\n# ///\nprint()\n'
    meta = inline.set_tool_table(path, "pyx", None)
    # emptied again: written as `dependencies = []`, which every reader sees as a block
    assert path.read_text() == "# /// script\n# dependencies = []\n# ///\nprint()\n"
    assert reference_read(path) == {"dependencies": []}


def test_empty_block_counts_for_duplicates() -> None:
    with pytest.raises(InlineMetadataError, match=r"^more than one .* \(they start at lines 1, 4\)") as info:
        inline.parse_script('# /// script\n# ///\n\n# /// script\n# dependencies = ["x"]\n# ///\n', Path("d.py"))
    assert info.value.location.line == 4
    # without the blank line the comment run is one block (the regex is greedy), as the reference reads it
    text = '# /// script\n# ///\n# /// script\n# dependencies = ["x"]\n# ///\n'
    with pytest.raises(InlineMetadataError, match="^the `script` block is not valid TOML") as info:
        inline.parse_script(text, Path("d.py"))
    assert (info.value.location.line, info.value.location.column) == (2, 3)
    with pytest.raises(ValueError):
        read(text)


def test_notebook_saved_with_crlf_keeps_crlf(tmp_path: Path) -> None:
    source = DATA / "notebooks" / "lab_outputs.ipynb"
    path = tmp_path / "win.ipynb"
    path.write_bytes(source.read_bytes().replace(b"\n", b"\r\n"))
    inline.add_dependencies(path, ["six"])
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    meta = inline.add_dependencies(path, ["attrs"])
    assert meta.dependencies == ("attrs", "six")
    assert b"\n" not in path.read_bytes().replace(b"\r\n", b"")
    assert json.loads(data)["cells"][1:] == json.loads(source.read_bytes())["cells"]
    assert_agrees_with_reference(path)


def test_dependencies_added_to_a_block_with_only_tables_go_before_them(tmp_path: Path) -> None:
    path = tmp_path / "t.py"
    path.write_text('# /// script\n# [tool.uv]\n# exclude-newer = "2025-01-01T00:00:00Z"\n# ///\n')
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["six"]))
    assert meta.raw == 'dependencies = [\n    "six",\n]\n\n[tool.uv]\nexclude-newer = "2025-01-01T00:00:00Z"\n'
    assert meta.uv["exclude-newer"] == "2025-01-01T00:00:00Z"


def test_block_in_a_later_cell_is_edited_in_place(tmp_path: Path) -> None:
    notebook = json.loads((DATA / "notebooks" / "lab_with_block.ipynb").read_text(encoding="utf-8"))
    notebook["cells"].append(notebook["cells"].pop(0))  # the block cell moves to the end
    path = tmp_path / "late.ipynb"
    path.write_text(lab_dumps(notebook), encoding="utf-8")
    meta = edit_and_check(path, lambda p: inline.add_dependencies(p, ["scipy"]))
    assert meta.location.cell == len(notebook["cells"]) - 1
    expected = json.loads(json.dumps(notebook))
    expected["cells"][-1]["source"] = json.loads(path.read_text(encoding="utf-8"))["cells"][-1]["source"]
    assert path.read_text(encoding="utf-8") == lab_dumps(expected)


def test_content_lines_are_split_at_newlines_only() -> None:
    # The reference implementation splits the content with str.splitlines, which also breaks
    # at U+2028 and friends and so drops characters from such a TOML string; pyx splits where
    # the regex's lines end (at newlines), as the specification's prose and uv do.
    text = '# /// script\n# note = "a\u2028b"\n# ///\n'
    assert _loads(inline.parse_script(text, Path("u.py")).raw) == {"note": "a\u2028b"}
    assert read(text) == {"note": "a\u2028"}
