"""pyproject.toml: discovery, the typed view, and edits that leave the rest of the file alone."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest
import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pyx_server.engine.errors import DependencyNotFound, ProjectError
from pyx_server.engine.project import (
    UvIndex,
    UvSource,
    add_dependencies,
    add_dependencies_to_text,
    add_uv_index,
    find_project,
    init_project,
    load_project,
    project_from_text,
    remove_dependencies,
    requirements_of,
    set_tool_value,
    set_uv_source,
)

DATA = Path(__file__).parent / "data" / "project"
DATA_FILES = sorted(p.name for p in DATA.glob("*.toml"))


def copy(name: str, directory: Path) -> Path:
    """A data file copied into ``directory`` as its ``pyproject.toml``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "pyproject.toml"
    shutil.copyfile(DATA / name, target)
    return target


def array(text: str, *keys: str) -> str:
    """The source text of the array at ``keys`` (as tomlkit reproduces it, byte for byte)."""
    node = tomlkit.parse(text)
    for key in keys:
        node = node[key]
    return node.as_string()


def assert_only_array_changed(before: str, after: str, *keys: str) -> str:
    """``after`` is ``before`` with exactly the array at ``keys`` rewritten; returns the new array."""
    old, new = array(before, *keys), array(after, *keys)
    pattern = re.compile(rf"(?m)^[ \t]*{re.escape(keys[-1])}[ \t]*=[ \t]*({re.escape(old)})")
    matches = [m for m in pattern.finditer(before)]
    assert len(matches) == 1, f"cannot locate `{keys[-1]}` uniquely"
    start, end = matches[0].span(1)
    assert after == before[:start] + new + before[end:]
    return new


def entries(text: str, *keys: str) -> list:
    node = tomlkit.parse(text)
    for key in keys:
        node = node[key]
    return node.unwrap()


# -- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_data_file_round_trips_through_tomlkit_and_loads(name: str) -> None:
    text = (DATA / name).read_text()
    assert tomlkit.dumps(tomlkit.parse(text)) == text
    project = project_from_text(text, DATA / name)
    assert project.path == DATA / name
    assert project.root == DATA


def test_typed_view_of_a_commented_project() -> None:
    project = load_project(DATA / "commented.toml")
    assert project.name == "weather-station"
    assert project.version == Version("2.4.0")
    assert project.requires_python == SpecifierSet(">=3.10")
    assert project.dependencies[1] == "pandas >= 2.1, < 3"  # kept as written
    assert project.dependencies[-1] == 'tomli>=2; python_version < "3.11"'
    assert project.optional_dependencies == {"plots": ("seaborn>=0.13", "plotly"), "all": ("weather-station[plots]",)}
    # include-group expanded in place, in order
    assert project.dependency_groups["dev"] == ("pytest>=8", "pytest-cov", "ruff>=0.4", "mypy", "ipython")
    assert project.default_groups == ("dev",)
    assert project.uv_indexes == (
        UvIndex(url="https://example.invalid/whl/cpu", name="pytorch-cpu", explicit=True),
        UvIndex(url="https://example.invalid/whl/cu121", name="pytorch-cu121", explicit=True),
    )
    assert project.uv_sources["torch"] == (
        UvSource(index="pytorch-cpu", marker="sys_platform != 'linux'"),
        UvSource(index="pytorch-cu121", marker="sys_platform == 'linux'"),
    )
    assert project.uv_sources["torch"][0].kind == "index"
    assert project.tool_pyx == {"variant": "cu121"}
    assert project.tool_uv["default-groups"] == ["dev"]
    assert not project.is_virtual


def test_virtual_project_has_groups_and_no_name() -> None:
    project = load_project(DATA / "virtual.toml")
    assert project.is_virtual and project.name is None and project.dependencies == ()
    assert project.dependency_groups["science"] == ("numpy", "scipy", "jupyterlab>=4", "ipywidgets")
    assert project.default_groups == ("science",)


def test_legacy_uv_dev_dependencies_are_the_dev_group() -> None:
    project = load_project(DATA / "legacy-dev.toml")
    assert project.dependency_groups == {"dev": ("pytest>=7",)}
    assert requirements_of(project) == ["requests", "pytest>=7"]


def test_dynamic_version_is_none() -> None:
    project = project_from_text('[project]\nname = "d"\ndynamic = ["version"]\n')
    assert project.version is None and project.dynamic == ("version",)


# -- discovery ------------------------------------------------------------------------------------


def test_find_project_walks_up_from_a_nested_directory_and_from_a_file(tmp_path: Path) -> None:
    copy("commented.toml", tmp_path / "repo")
    deep = tmp_path / "repo" / "src" / "weather_station" / "io"
    deep.mkdir(parents=True)
    (deep / "serial.py").write_text("")
    assert find_project(deep).root == tmp_path / "repo"
    assert find_project(deep / "serial.py").name == "weather-station"


def test_find_project_skips_a_pyproject_without_project_tables(tmp_path: Path) -> None:
    copy("uv-written.toml", tmp_path)
    inner = tmp_path / "tools"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    found = find_project(inner)
    assert found is not None and found.path == tmp_path / "pyproject.toml"


def test_find_project_stops_at_the_nearest_virtual_project(tmp_path: Path) -> None:
    copy("uv-written.toml", tmp_path)
    copy("virtual.toml", tmp_path / "notebooks")
    found = find_project(tmp_path / "notebooks")
    assert found.is_virtual and found.root == tmp_path / "notebooks"


def test_find_project_finds_nothing(tmp_path: Path) -> None:
    assert find_project(tmp_path) is None


def test_find_project_reports_a_broken_file_instead_of_skipping_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["a",\n')
    (tmp_path / "pkg").mkdir()
    with pytest.raises(ProjectError) as info:
        find_project(tmp_path / "pkg")
    assert info.value.location.path == str(tmp_path / "pyproject.toml")
    assert info.value.code == "invalid-project"


# -- requirements for resolution -----------------------------------------------------------------


def test_requirements_of_honours_default_groups_extras_and_self_references() -> None:
    project = load_project(DATA / "commented.toml")
    base = list(project.dependencies)
    assert requirements_of(project) == base + ["pytest>=8", "pytest-cov", "ruff>=0.4", "mypy", "ipython"]
    assert requirements_of(project, default_groups=False) == base
    assert requirements_of(project, default_groups=False, groups=["lint"]) == base + ["ruff>=0.4", "mypy"]
    assert requirements_of(project, only_groups=True, default_groups=False, groups=["Test"]) == ["pytest>=8", "pytest-cov"]
    # `all = ["weather-station[plots]"]` is the project itself: replaced by the plots extra
    assert requirements_of(project, extras=["all"], default_groups=False) == base + ["seaborn>=0.13", "plotly"]
    assert requirements_of(project, all_groups=True, no_groups=["dev"]) == base + [
        "pytest>=8", "pytest-cov", "ruff>=0.4", "mypy",
    ]  # fmt: skip


def test_self_reference_markers_are_carried_over() -> None:
    text = """[project]
name = "me"
version = "1"
[project.optional-dependencies]
gpu = ["cupy; python_version >= '3.10'", "pynvml"]
[dependency-groups]
dev = ["me[gpu]; sys_platform == 'linux'"]
"""
    reqs = requirements_of(project_from_text(text))
    assert reqs == [
        'cupy; python_version >= "3.10" and sys_platform == "linux"',
        'pynvml; sys_platform == "linux"',
    ]


def test_self_reference_brings_the_project_dependencies_once() -> None:
    text = """[project]
name = "me"
version = "1"
dependencies = ["attrs"]
[project.optional-dependencies]
cli = ["click", "me[color]"]
color = ["rich", "me[cli]"]
[dependency-groups]
dev = ["me[cli]", "pytest"]
"""
    project = project_from_text(text)
    assert requirements_of(project) == ["attrs", "click", "rich", "pytest"]
    # without the project itself, a self reference still needs the project's dependencies
    assert requirements_of(project, only_groups=True) == ["attrs", "click", "rich", "pytest"]
    assert requirements_of(project, default_groups=False, extras=["color"]) == ["attrs", "rich", "click"]


def test_default_groups_all_and_none_defined() -> None:
    text = '[dependency-groups]\na = ["x"]\nb = ["y"]\n[tool.uv]\ndefault-groups = "all"\n'
    assert requirements_of(project_from_text(text)) == ["x", "y"]
    # no `dev` group: the implicit default selects nothing and is not an error
    assert requirements_of(project_from_text('[dependency-groups]\na = ["x"]\n')) == []


def test_unknown_extra_or_group_is_an_error_listing_what_exists() -> None:
    project = load_project(DATA / "commented.toml")
    with pytest.raises(ProjectError, match="extra `gui` is not defined") as info:
        requirements_of(project, extras=["gui"])
    assert "`plots`" in info.value.hints[0]
    with pytest.raises(ProjectError, match="group `docs` is not defined"):
        requirements_of(project, groups=["docs"])


# -- adding ---------------------------------------------------------------------------------------

ADDED = {
    "commented.toml": """[
    # core
    "numpy>=1.26",          # arrays
    "pandas >= 2.1, < 3",   # frames; upper bound until 3.0 is tested
    "matplotlib",

    # I/O
    "pyserial>=3.5 ; sys_platform != 'emscripten'",
    'tomli>=2; python_version < "3.11"',  # literal string, stdlib has tomllib later
    "httpx>=0.27",
]""",
    "uv-written.toml": '[\n    "httpx>=0.27.2",\n    "torch>=2.5.1",\n    "torchvision>=0.20.1",\n    "anyio>=4",\n]',
    "inline-arrays.toml": "['click>=8', 'rich', 'httpx>=0.27']",
    "no-trailing-comma.toml": '[\n  "attrs>=23",\n  "cattrs",\n  "httpx>=0.27"\n]',
    "minimal.toml": '[\n    "httpx>=0.27",\n]',
    "legacy-dev.toml": '["requests", "httpx>=0.27"]',
    "dotted-keys.toml": '[\n\t"packaging",\t# tab-indented\n\t"httpx>=0.27",\n]',
}


@pytest.mark.parametrize("name", sorted(ADDED))
def test_add_appends_in_the_arrays_own_style_and_touches_nothing_else(name: str, tmp_path: Path) -> None:
    path = copy(name, tmp_path)
    before = path.read_text()
    requirement = "anyio>=4" if name == "uv-written.toml" else "httpx>=0.27"
    project = add_dependencies(path, [requirement])
    after = path.read_text()
    assert assert_only_array_changed(before, after, "project", "dependencies") == ADDED[name]
    assert project.dependencies[-1] == requirement
    assert load_project(path) == project


def test_add_existing_name_replaces_in_place_keeping_comments_and_spelling(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    add_dependencies(path, ["PANDAS>=2.2", "numpy[extra]"])
    after = path.read_text()
    new = assert_only_array_changed(before, after, "project", "dependencies")
    assert '    "pandas>=2.2",   # frames; upper bound until 3.0 is tested\n' in new
    # no version given: the old one stays, extras are united (uv's rule)
    assert '    "numpy[extra]>=1.26",          # arrays\n' in new
    assert len(entries(after, "project", "dependencies")) == 5


def test_add_replaces_an_entry_with_the_same_marker_and_keeps_its_quoting(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    add_dependencies(path, ['tomli>=2.0.1; python_version < "3.11"'])
    new = assert_only_array_changed(before, path.read_text(), "project", "dependencies")
    assert """    'tomli>=2.0.1; python_version < "3.11"',  # literal string""" in new


def test_add_same_name_with_another_marker_is_a_new_entry(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    project = add_dependencies(path, ['tomli>=2; python_version >= "3.13"'])
    # written with single quotes inside the double-quoted string, as uv writes markers
    assert project.dependencies[-1] == "tomli>=2; python_version >= '3.13'"
    assert len(project.dependencies) == 6


def test_adding_what_is_already_there_writes_nothing(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    add_dependencies(path, ["matplotlib", "numpy>=1.26"])
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_long_inline_array_becomes_one_entry_per_line(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nversion = "1"\ndependencies = ["alpha-package>=1.0", "beta-package>=2.0"]\n')
    add_dependencies(path, ["gamma-package>=3.0", "delta-package>=4.0"])
    assert path.read_text() == (
        '[project]\nname = "x"\nversion = "1"\ndependencies = [\n'
        '    "alpha-package>=1.0",\n    "beta-package>=2.0",\n    "gamma-package>=3.0",\n    "delta-package>=4.0",\n]\n'
    )


def test_add_creates_dependencies_array_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nversion = "1"\n\n[project.urls]\nHome = "h"\n')
    add_dependencies(path, ["rich"])
    assert path.read_text() == (
        '[project]\nname = "x"\nversion = "1"\ndependencies = [\n    "rich",\n]\n\n[project.urls]\nHome = "h"\n'
    )


def test_add_to_groups_in_their_styles(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    add_dependencies(path, ["black"], group="lint")
    mid = path.read_text()
    assert assert_only_array_changed(before, mid, "dependency-groups", "lint") == '["ruff>=0.4", "mypy", "black"]'
    project = add_dependencies(path, ["rich"], group="dev")
    new = assert_only_array_changed(mid, path.read_text(), "dependency-groups", "dev")
    assert new.endswith('    "ipython",\n    "rich",\n]')
    assert project.dependency_groups["dev"][-1] == "rich"
    assert project.dependency_groups["lint"] == ("ruff>=0.4", "mypy", "black")


def test_group_names_compare_normalized(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    project = add_dependencies(path, ["hypothesis"], group="TEST")
    assert project.dependency_groups["test"][-1] == "hypothesis"
    assert "TEST" not in path.read_text()


def test_new_group_in_an_existing_table(tmp_path: Path) -> None:
    path = copy("inline-arrays.toml", tmp_path)
    add_dependencies(path, ["mkdocs"], group="site")
    assert path.read_text().endswith('docs = [ "sphinx" , "furo" ]\nsite = [\n    "mkdocs",\n]\n')


def test_dependency_groups_table_is_created_at_the_end(tmp_path: Path) -> None:
    path = copy("minimal.toml", tmp_path)
    add_dependencies(path, ["pytest>=8"], group="dev")
    assert path.read_text() == (DATA / "minimal.toml").read_text() + '\n[dependency-groups]\ndev = [\n    "pytest>=8",\n]\n'


def test_dev_dependency_already_in_legacy_table_is_updated_there(tmp_path: Path) -> None:
    path = copy("legacy-dev.toml", tmp_path)
    before = path.read_text()
    project = add_dependencies(path, ["pytest>=8"], group="dev")
    assert assert_only_array_changed(before, path.read_text(), "tool", "uv", "dev-dependencies") == '[\n    "pytest>=8",\n]'
    assert project.dependency_groups == {"dev": ("pytest>=8",)}
    # a new dev dependency goes to `[dependency-groups]`, as uv does
    project = add_dependencies(path, ["ruff"], group="dev")
    assert entries(path.read_text(), "dependency-groups", "dev") == ["ruff"]
    assert project.dependency_groups["dev"] == ("ruff", "pytest>=8")


def test_add_to_existing_extra_and_new_extra(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    add_dependencies(path, ["bokeh"], optional="plots")
    mid = path.read_text()
    assert assert_only_array_changed(before, mid, "project", "optional-dependencies", "plots").endswith(
        '    "plotly",\n    "bokeh",\n]'
    )
    project = add_dependencies(path, ["pyqt6"], optional="gui")
    assert mid.replace('all = ["weather-station[plots]"]\n', 'all = ["weather-station[plots]"]\ngui = [\n    "pyqt6",\n]\n') == (
        path.read_text()
    )
    assert project.optional_dependencies["gui"] == ("pyqt6",)


def test_optional_dependencies_table_is_created_after_the_project_tables(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\nversion = "1"\n\n[project.urls]\nHome = "h"\n\n'
        '# how to build\n[build-system]\nrequires = ["hatchling"]\n'
    )
    add_dependencies(path, ["pytest"], optional="test")
    assert path.read_text() == (
        '[project]\nname = "x"\nversion = "1"\n\n[project.urls]\nHome = "h"\n\n'
        '[project.optional-dependencies]\ntest = [\n    "pytest",\n]\n\n'
        '# how to build\n[build-system]\nrequires = ["hatchling"]\n'
    )


def test_dotted_optional_dependencies_are_edited_where_they_are(tmp_path: Path) -> None:
    path = copy("dotted-keys.toml", tmp_path)
    before = path.read_text()
    project = add_dependencies(path, ["rich"], optional="cli")
    assert before.replace('\t"typer",\n', '\t"typer",\n\t"rich",\n') == path.read_text()
    assert project.optional_dependencies["cli"] == ("typer", "rich")


def test_new_table_placement_is_not_fooled_by_brackets_inside_strings_and_arrays(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    text = (
        '[project]\nname = "x"\nversion = "1"\ndescription = """\n[not a table]\n"""\n'
        'keywords = [\n[\n"nested"]]\n\n[tool.other]\nx = 1\n'
    )
    path.write_text(text)
    add_dependencies(path, ["pytest"], optional="test")
    assert path.read_text() == text.replace(
        "\n[tool.other]", '\n[project.optional-dependencies]\ntest = [\n    "pytest",\n]\n\n[tool.other]'
    )


def test_add_uv_index_keeps_an_inline_index_list_inline(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.uv]\nindex = [{ name = "a", url = "https://example.invalid/a" }]\n')
    project = add_uv_index(path, UvIndex(url="https://example.invalid/b", name="b"))
    assert [i.name for i in project.uv_indexes] == ["b", "a"]
    assert path.read_text() == (
        '[project]\nname = "x"\n\n[tool.uv]\nindex = [\n'
        '    { name = "b", url = "https://example.invalid/b" },\n'
        '    { name = "a", url = "https://example.invalid/a" },\n]\n'
    )


def test_virtual_project_takes_groups_but_not_dependencies(tmp_path: Path) -> None:
    path = copy("virtual.toml", tmp_path)
    before = path.read_text()
    with pytest.raises(ProjectError, match="no `\\[project\\]` table") as info:
        add_dependencies(path, ["rich"])
    assert any("--group" in hint for hint in info.value.hints)
    assert path.read_text() == before
    project = add_dependencies(path, ["pandas"], group="science")
    # after the last requirement, before the include-group entry (where uv puts it)
    assert project.dependency_groups["science"] == ("numpy", "scipy", "pandas", "jupyterlab>=4", "ipywidgets")
    assert path.read_text() == before.replace('    "scipy",\n', '    "scipy",\n    "pandas",\n')


def test_crlf_file_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    original = (DATA / "no-trailing-comma.toml").read_text().replace("\n", "\r\n")
    path.write_bytes(original.encode())
    add_dependencies(path, ["httpx"])
    data = path.read_bytes().decode()
    assert "\n" not in data.replace("\r\n", "")
    assert '  "cattrs",\r\n  "httpx"\r\n]' in data


def test_add_keeps_file_mode(tmp_path: Path) -> None:
    path = copy("minimal.toml", tmp_path)
    path.chmod(0o640)
    add_dependencies(path, ["rich"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["pyproject.toml"]  # no temporary left


# -- removing -------------------------------------------------------------------------------------


def test_remove_takes_the_line_and_its_comment_and_keeps_comments_above(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    project = remove_dependencies(path, ["NumPy", "matplotlib"])
    new = assert_only_array_changed(before, path.read_text(), "project", "dependencies")
    assert new == """[
    # core
    "pandas >= 2.1, < 3",   # frames; upper bound until 3.0 is tested

    # I/O
    "pyserial>=3.5 ; sys_platform != 'emscripten'",
    'tomli>=2; python_version < "3.11"',  # literal string, stdlib has tomllib later
]"""
    assert project.dependencies[0] == "pandas >= 2.1, < 3"


def test_remove_last_entry_keeps_the_no_trailing_comma_style(tmp_path: Path) -> None:
    path = copy("no-trailing-comma.toml", tmp_path)
    before = path.read_text()
    remove_dependencies(path, ["cattrs"])
    assert assert_only_array_changed(before, path.read_text(), "project", "dependencies") == '[\n  "attrs>=23"\n]'
    mid = path.read_text()
    remove_dependencies(path, ["ujson"], optional="speed")
    assert assert_only_array_changed(mid, path.read_text(), "project", "optional-dependencies", "speed") == (
        '[\n  "orjson"]'
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [(["click"], "['rich']"), (["rich"], "['click>=8']"), (["rich", "click"], "[]")],
)
def test_remove_from_inline_arrays(names: list[str], expected: str, tmp_path: Path) -> None:
    path = copy("inline-arrays.toml", tmp_path)
    before = path.read_text()
    remove_dependencies(path, names)
    assert assert_only_array_changed(before, path.read_text(), "project", "dependencies") == expected


def test_remove_from_group_and_from_the_legacy_dev_table(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    project = remove_dependencies(path, ["pytest-cov"], group="test")
    assert assert_only_array_changed(before, path.read_text(), "dependency-groups", "test") == '[\n    "pytest>=8",\n]'
    assert project.dependency_groups["dev"][:2] == ("pytest>=8", "ruff>=0.4")

    legacy = copy("legacy-dev.toml", tmp_path / "legacy")
    project = remove_dependencies(legacy, ["pytest"], group="dev")
    assert entries(legacy.read_text(), "tool", "uv", "dev-dependencies") == []
    assert project.dependency_groups == {}


def test_remove_what_is_not_there_names_it_says_where_it_is_and_writes_nothing(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_bytes()
    with pytest.raises(DependencyNotFound) as info:
        remove_dependencies(path, ["numpy", "pytest", "left-pad"])
    error = info.value
    assert error.code == "dependency-not-found"
    assert "`pytest`, `left-pad` are not declared in `project.dependencies`" in error.message
    assert error.location.path == str(path)
    assert any("`pytest` is declared in the `test` group (`--group test`)" in h for h in error.hints)
    assert path.read_bytes() == before

    with pytest.raises(DependencyNotFound, match="dependency group `docs` is not defined"):
        remove_dependencies(path, ["sphinx"], group="docs")
    with pytest.raises(DependencyNotFound, match="extra `gui` is not defined"):
        remove_dependencies(path, ["pyqt6"], optional="gui")
    assert path.read_bytes() == before


# -- invalid input: named in the message, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[project]\nname = "x"\ndependencies = [\n  "a",\n  "b" "c",\n]\n', "invalid TOML"),
        ('[project]\nversion = "1"\n', "the `[project]` table has no `name`"),
        ('[project]\nname = "-bad-"\n', "invalid `project.name` `-bad-`"),
        ('[project]\nname = "x"\nversion = "one"\n', "invalid `project.version` `one`"),
        ('[project]\nname = "x"\nrequires-python = "3.12"\n', "invalid `requires-python` `3.12`"),
        ('[project]\nname = "x"\ndependencies = ["ok", "bad ~= "]\n', "invalid requirement `bad ~= ` in `project.dependencies`"),
        ('[dependency-groups]\ndev = ["pytest", "==1"]\n', "invalid requirement `==1` in `dependency-groups.dev`"),
        (
            '[dependency-groups]\na = [{include-group = "b"}]\nb = ["x", {include-group = "c"}]\nc = [{include-group = "a"}]\n',
            "includes itself: a -> b -> c -> a",
        ),
        ('[dependency-groups]\na = [{include-group = "nope"}]\n', "includes `nope`, which is not defined"),
        ('[dependency-groups]\nDev = ["a"]\ndev = ["b"]\n', "`Dev` and `dev` in `dependency-groups` are the same name"),
        ('[dependency-groups]\na = ["x"]\n[tool.uv]\ndefault-groups = ["docs"]\n', "default group `docs`"),
        ('[tool.uv.sources]\ntorch = { index = "x", marker = "os ==" }\n', "invalid marker `os ==`"),
    ],
)
def test_invalid_pyproject_is_reported_with_file_and_reason(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert expected in info.value.message
    # the file (and line, when known) is the error's location, not part of its message
    assert info.value.location.path == str(path) and str(path) not in info.value.message
    if expected == "invalid TOML":
        assert info.value.location.line == 5
    assert info.value.code == "invalid-project"
    # an edit of a broken file is refused and leaves it alone
    with pytest.raises(ProjectError):
        add_dependencies(path, ["rich"], group="dev")
    assert path.read_text() == text


def test_invalid_toml_carries_line_and_column() -> None:
    with pytest.raises(ProjectError) as info:
        project_from_text('[project]\nname = "x"\nversion = 1.0.0\n', "p/pyproject.toml")
    assert info.value.location.line == 3 and info.value.location.column is not None
    assert "line" not in info.value.message


def test_cycle_of_one_group() -> None:
    with pytest.raises(ProjectError, match=r"`dev` includes itself: dev -> dev"):
        project_from_text('[dependency-groups]\ndev = [{include-group = "dev"}]\n')


def test_include_group_entry_with_other_keys_is_rejected() -> None:
    with pytest.raises(ProjectError, match="neither a requirement string nor"):
        project_from_text('[dependency-groups]\ndev = [{include-group = "x", extra = 1}]\nx = []\n')


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"requirements": ["ok", "not a requirement!"]}, "invalid requirement `not a requirement!`"),
        ({"requirements": ["rich"], "group": "bad group"}, "invalid group name `bad group`"),
        ({"requirements": ["rich"], "optional": "x", "group": "y"}, "not both"),
        ({"requirements": ["weather_station"]}, "names the project itself"),
    ],
)
def test_bad_edit_requests_are_refused_and_nothing_is_written(kwargs: dict, expected: str, tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_bytes()
    with pytest.raises(ProjectError, match=re.escape(expected)):
        add_dependencies(path, **kwargs)
    assert path.read_bytes() == before


def test_an_edit_that_would_leave_an_invalid_project_is_refused(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="default group `docs`"):
        set_tool_value(path, "tool.uv.default-groups", ["docs"])
    assert path.read_bytes() == before


def test_dynamic_dependencies_cannot_be_edited(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndynamic = ["version", "dependencies"]\n')
    with pytest.raises(ProjectError, match="`project.dynamic`"):
        add_dependencies(path, ["rich"])


def test_pure_text_edit_for_editors() -> None:
    text = (DATA / "minimal.toml").read_text()
    assert add_dependencies_to_text(text, ["rich"]) == text.replace("dependencies = []", 'dependencies = [\n    "rich",\n]')


# -- [tool] tables ----------------------------------------------------------------------------------


def test_set_uv_source_inline_entry_in_existing_table(tmp_path: Path) -> None:
    path = copy("uv-written.toml", tmp_path)
    before = path.read_text()
    project = set_uv_source(path, "httpx", UvSource(index="pytorch-cu124"))
    assert path.read_text() == before.replace(
        "\n\n[[tool.uv.index]]", '\nhttpx = { index = "pytorch-cu124" }\n\n[[tool.uv.index]]'
    )
    assert project.uv_sources["httpx"] == (UvSource(index="pytorch-cu124"),)
    # removing it gives back the original bytes
    set_uv_source(path, "HTTPX", None)
    assert path.read_text() == before


def test_set_uv_source_creates_the_sources_table_after_tool_uv(tmp_path: Path) -> None:
    path = copy("legacy-dev.toml", tmp_path)
    before = path.read_text()
    set_uv_source(
        path,
        "torch",
        [
            UvSource(index="pytorch-cpu", marker="sys_platform == 'darwin'"),
            UvSource(index="pytorch-cu124", marker="sys_platform != 'darwin'"),
        ],
    )
    assert path.read_text() == before + (
        "\n[tool.uv.sources]\ntorch = [\n"
        "    { index = \"pytorch-cpu\", marker = \"sys_platform == 'darwin'\" },\n"
        "    { index = \"pytorch-cu124\", marker = \"sys_platform != 'darwin'\" },\n"
        "]\n"
    )


def test_set_uv_source_replaces_entry_spelled_differently(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.uv.sources]\nMy_Pkg = { path = "../my" }\nother = { git = "g" }\n')
    project = set_uv_source(path, "my-pkg", UvSource(index="internal"))
    assert project.uv_sources["my-pkg"] == (UvSource(index="internal"),)
    assert "My_Pkg" not in path.read_text()
    assert 'other = { git = "g" }' in path.read_text()


def test_add_uv_index_goes_first_and_leaves_other_entries_alone(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    project = add_uv_index(path, UvIndex(url="https://example.invalid/whl/cu124", name="pytorch-cu124", explicit=True))
    assert [i.name for i in project.uv_indexes] == ["pytorch-cu124", "pytorch-cpu", "pytorch-cu121"]
    block = '[[tool.uv.index]]\nname = "pytorch-cu124"\nurl = "https://example.invalid/whl/cu124"\nexplicit = true\n\n'
    assert path.read_text() == before.replace("[[tool.uv.index]]\nname = \"pytorch-cpu\"", block + "[[tool.uv.index]]\nname = \"pytorch-cpu\"", 1)


def test_add_uv_index_with_a_known_name_replaces_it_and_moves_it_first(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    project = add_uv_index(path, UvIndex(url="https://mirror.invalid/cu121", name="pytorch-cu121"))
    assert project.uv_indexes == (
        UvIndex(url="https://mirror.invalid/cu121", name="pytorch-cu121"),
        UvIndex(url="https://example.invalid/whl/cpu", name="pytorch-cpu", explicit=True),
    )
    text = path.read_text()
    assert text.count("[[tool.uv.index]]") == 2
    assert "\n\n\n" not in text
    assert text.endswith('explicit = true\n\n[tool.ruff]\nline-length = 100   # wide screens\n\n[tool.pyx]\nvariant = "cu121"\n')
    # asking again changes nothing
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    add_uv_index(path, UvIndex(url="https://mirror.invalid/cu121", name="pytorch-cu121"))
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_add_uv_index_to_a_file_without_one(tmp_path: Path) -> None:
    path = copy("minimal.toml", tmp_path)
    add_uv_index(path, UvIndex(url="https://example.invalid/simple", name="internal", default=True))
    assert path.read_text() == (DATA / "minimal.toml").read_text() + (
        '\n[[tool.uv.index]]\nname = "internal"\nurl = "https://example.invalid/simple"\ndefault = true\n'
    )


def test_set_tool_value_scalars_tables_and_removal(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_text()
    project = set_tool_value(path, "tool.pyx.variant", "cpu")
    assert path.read_text() == before.replace('variant = "cu121"', 'variant = "cpu"')
    assert project.tool_pyx == {"variant": "cpu"}
    project = set_tool_value(path, ("tool", "pyx", "python"), "3.12")
    assert path.read_text().endswith('[tool.pyx]\nvariant = "cpu"\npython = "3.12"\n')
    set_tool_value(path, "tool.pyx.python", None)
    set_tool_value(path, "tool.pyx.variant", "cu121")
    assert path.read_text() == before
    with pytest.raises(ProjectError, match="not a key under"):
        set_tool_value(path, "project.name", "y")
    # a table at tool.x.y is a [section]
    project = set_tool_value(path, "tool.pyx.gpu", {"driver": "550.54", "variants": ["cu124", "cpu"]})
    assert path.read_text().endswith('variant = "cu121"\n\n[tool.pyx.gpu]\ndriver = "550.54"\nvariants = ["cu124", "cpu"]\n')
    assert project.tool_pyx["gpu"] == {"driver": "550.54", "variants": ["cu124", "cpu"]}
    set_tool_value(path, "tool.pyx.gpu", None)
    assert path.read_text() == before


# -- init ---------------------------------------------------------------------------------------------


def test_init_writes_what_uv_init_bare_writes(tmp_path: Path) -> None:
    path = init_project(tmp_path / "foo", requires_python=">=3.12")
    assert path == tmp_path / "foo" / "pyproject.toml"
    assert path.read_text() == (DATA / "minimal.toml").read_text()
    assert [p.name for p in path.parent.iterdir()] == ["pyproject.toml"]


def test_init_defaults(tmp_path: Path) -> None:
    path = init_project(tmp_path / "My Cool_Project")
    project = load_project(path)
    assert project.name == "my-cool-project"
    assert 'name = "my-cool-project"' in path.read_text()
    assert project.requires_python == SpecifierSet(f">={sys.version_info.major}.{sys.version_info.minor}")
    assert load_project(init_project(tmp_path / "x", name="Named", requires_python="3.11")).requires_python == (
        SpecifierSet(">=3.11")
    )


def test_init_refuses_an_existing_pyproject(tmp_path: Path) -> None:
    path = copy("commented.toml", tmp_path)
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="already initialized") as info:
        init_project(tmp_path)
    assert info.value.code == "invalid-project"
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("directory", "kwargs", "expected"),
    [
        ("-weird-", {}, "directory name `-weird-` is not a valid package name"),
        ("ok", {"name": "no/slashes"}, "invalid project name `no/slashes`"),
        ("ok", {"requires_python": "newest"}, "invalid `requires-python` `newest`"),
    ],
)
def test_init_rejects_bad_names_and_versions(directory: str, kwargs: dict, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=re.escape(expected)):
        init_project(tmp_path / directory, **kwargs)
    assert not (tmp_path / directory / "pyproject.toml").exists()
