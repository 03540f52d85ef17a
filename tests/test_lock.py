"""PEP 751 lock files: reading (the specification's example, a uv export), validation errors with
their lines, deterministic writing and round trips, naming, selection for a target, staleness,
and building a lock from a resolution."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from pyx_server.engine import cache as cache_module
from pyx_server.engine.errors import LockFileError, LockNotApplicable, NoMatchingDistribution, PyxError
from pyx_server.engine.lock import (
    DirectorySource,
    Lock,
    LockedDependency,
    LockedFile,
    LockedPackage,
    VcsSource,
    dumps_lock,
    is_lock_file_name,
    is_stale,
    loads_lock,
    lock_from_resolution,
    lock_name,
    lock_path_for,
    read_lock,
    select_for_environment,
    to_dist_file,
    write_lock,
)
from pyx_server.engine.index.resolve import ResolveResult
from pyx_server.engine.resolver import Candidate, Resolution, ResolvedPackage, Via
from pyx_server.engine.index.distfile import DistFile

DATA = Path(__file__).parent / "data" / "lock"
PEP_EXAMPLE = DATA / "pylock.pep751-example.toml"
UV_EXPORT = DATA / "pylock.uv-export.toml"

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


def toml_loads(text: str) -> dict:
    if tomllib is not None:
        return tomllib.loads(text)
    import tomlkit

    return tomlkit.parse(text).unwrap()


def h(char: str) -> dict[str, str]:
    return {"sha256": char * 64}


def wheel(filename: str, char: str = "a", **kw) -> LockedFile:
    return LockedFile(url=f"https://files.example.org/{filename}", hashes=h(char), **kw)


def sdist(filename: str, char: str = "s") -> LockedFile:
    return LockedFile(url=f"https://files.example.org/{filename}", hashes=h(char))


LINUX = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.4",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.12.4",
    "platform_python_implementation": "CPython",
    "python_version": "3.12",
    "sys_platform": "linux",
}
WINDOWS = {**LINUX, "os_name": "nt", "platform_system": "Windows", "sys_platform": "win32", "platform_machine": "AMD64"}
#: a CPython 3.12 x86_64 glibc target, best tag first (what Interpreter.tags holds, shortened)
LINUX_TAGS = [
    Tag("cp312", "cp312", "manylinux_2_17_x86_64"),
    Tag("cp312", "abi3", "manylinux_2_17_x86_64"),
    Tag("cp312", "none", "manylinux_2_17_x86_64"),
    Tag("py3", "none", "manylinux_2_17_x86_64"),
    Tag("py312", "none", "any"),
    Tag("py3", "none", "any"),
]
WINDOWS_TAGS = [Tag("cp312", "cp312", "win_amd64"), Tag("cp312", "abi3", "win_amd64"), Tag("py3", "none", "any")]


# -- reading the specification's example and a uv export ------------------------------------


def test_pep_example_parses() -> None:
    lock = read_lock(PEP_EXAMPLE)
    assert lock.lock_version == "1.0"
    assert lock.created_by == "mousebender"
    assert lock.environments == (Marker("sys_platform == 'win32'"), Marker("sys_platform == 'linux'"))
    assert lock.requires_python == SpecifierSet("==3.12.*")
    assert lock.extras is None and lock.dependency_groups is None and lock.default_groups is None
    assert [(p.name, str(p.version)) for p in lock.packages] == [
        ("attrs", "25.1.0"),
        ("cattrs", "24.1.2"),
        ("numpy", "2.2.3"),
    ]
    attrs, cattrs, numpy = lock.packages
    assert attrs.requires_python == SpecifierSet(">=3.8")
    assert attrs.source_kind == "index" and attrs.index is None
    (attrs_wheel,) = attrs.wheels
    assert attrs_wheel.filename == "attrs-25.1.0-py3-none-any.whl"
    assert attrs_wheel.size == 63152
    assert attrs_wheel.upload_time == datetime(2025, 1, 25, 11, 30, 10, 164985, tzinfo=timezone.utc)
    assert attrs_wheel.sha256 == "c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a"
    assert attrs.attestation_identities == (
        {
            "environment": "release-pypi",
            "kind": "GitHub",
            "repository": "python-attrs/attrs",
            "workflow": "pypi-package.yml",
        },
    )
    assert cattrs.dependencies == (LockedDependency(name="attrs"),)
    assert {w.filename for w in numpy.wheels} == {
        "numpy-2.2.3-cp312-cp312-win_amd64.whl",
        "numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    }
    assert lock.tool["mousebender"]["command"][:2] == [".", "lock"]
    assert lock.tool["mousebender"]["run-on"] == datetime(2025, 3, 6, 12, 28, 57, 760769)
    assert lock.warnings == ()


def test_uv_export_parses() -> None:
    lock = read_lock(UV_EXPORT)
    assert lock.created_by == "uv"
    assert lock.requires_python == SpecifierSet(">=3.12")
    names = [p.name for p in lock.packages]
    assert names == sorted(names) and len(names) == 10
    colorama = lock.packages_named("colorama")[0]
    assert colorama.marker == Marker("sys_platform == 'win32'")
    assert colorama.index == "https://index.example.org/simple"
    assert colorama.sdist.filename == "colorama-0.4.6.tar.gz"
    # uv writes `name` when the URL's file name is not the normalized one
    (jinja_wheel,) = lock.packages_named("jinja2")[0].wheels
    assert jinja_wheel.name == "jinja2-3.1.3-py3-none-any.whl"
    assert jinja_wheel.url.endswith("/Jinja2-3.1.3-py3-none-any.whl")
    assert len(lock.packages_named("markupsafe")[0].wheels) == 10
    project = lock.packages_named("project")[0]
    assert project.version is None
    assert project.directory == DirectorySource(path=".", editable=True)
    assert project.source_kind == "directory"


@pytest.mark.parametrize("path", [PEP_EXAMPLE, UV_EXPORT], ids=["pep", "uv"])
def test_round_trip_is_equal_and_byte_stable(path: Path, tmp_path: Path) -> None:
    lock = read_lock(path)
    target = write_lock(lock, tmp_path / "pylock.toml")
    again = read_lock(target)
    assert again == lock
    first = target.read_bytes()
    write_lock(again, target)
    assert target.read_bytes() == first
    assert dumps_lock(again).encode() == first


@pytest.mark.parametrize("path", [PEP_EXAMPLE, UV_EXPORT], ids=["pep", "uv"])
def test_written_lock_is_valid_for_packagings_reader(path: Path) -> None:
    pylock = pytest.importorskip("packaging.pylock")
    lock = read_lock(path)
    theirs = pylock.Pylock.from_dict(toml_loads(dumps_lock(lock)))
    assert [(p.name, p.version) for p in theirs.packages] == [(p.name, p.version) for p in lock.packages]
    for ours, their in zip(lock.packages, theirs.packages):
        assert [w.filename for w in their.wheels or []] == [w.filename for w in ours.wheels]
        assert (their.sdist.filename if their.sdist else None) == (ours.sdist.filename if ours.sdist else None)


# -- writing -------------------------------------------------------------------------------


def small_lock() -> Lock:
    return Lock(
        requires_python=">=3.10",
        extras=(),
        dependency_groups=(),
        created_by="pyx",
        packages=[
            LockedPackage(
                name="numpy",
                version="2.2.3",
                requires_python=">=3.10",
                index="https://index.example.org/simple/",
                sdist=LockedFile(
                    url="https://files.example.org/numpy-2.2.3.tar.gz",
                    upload_time=datetime(2025, 2, 13, 16, 50, tzinfo=timezone.utc),
                    size=100,
                    hashes=h("3"),
                ),
                wheels=[
                    wheel("numpy-2.2.3-cp312-cp312-win_amd64.whl", "2", size=10),
                    wheel("numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.whl", "1", size=20),
                ],
            ),
            LockedPackage(
                name="colorama",
                version="0.4.6",
                marker="sys_platform == 'win32'",
                dependencies=[LockedDependency("numpy")],
                index="https://index.example.org/simple/",
                wheels=[wheel("colorama-0.4.6-py2.py3-none-any.whl", "c")],
            ),
        ],
    )


GOLDEN = '''\
lock-version = "1.0"
requires-python = ">=3.10"
extras = []
dependency-groups = []
created-by = "pyx"

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
dependencies = [{ name = "numpy" }]
index = "https://index.example.org/simple/"
wheels = [{ url = "https://files.example.org/colorama-0.4.6-py2.py3-none-any.whl", hashes = { sha256 = "CCCC" } }]

[[packages]]
name = "numpy"
version = "2.2.3"
requires-python = ">=3.10"
index = "https://index.example.org/simple/"
sdist = { upload-time = 2025-02-13T16:50:00Z, url = "https://files.example.org/numpy-2.2.3.tar.gz", size = 100, hashes = { sha256 = "3333" } }
wheels = [
    { url = "https://files.example.org/numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.whl", size = 20, hashes = { sha256 = "1111" } },
    { url = "https://files.example.org/numpy-2.2.3-cp312-cp312-win_amd64.whl", size = 10, hashes = { sha256 = "2222" } },
]
'''


def test_layout_is_the_pep_key_order_with_uv_inline_files() -> None:
    text = dumps_lock(small_lock())
    expected = GOLDEN
    for char in "C321":
        expected = expected.replace(f'"{char * 4}"', f'"{char.lower() * 64}"')
    assert text == expected


def test_output_does_not_depend_on_input_order() -> None:
    lock = small_lock()
    shuffled = Lock(
        requires_python=">=3.10",
        extras=(),
        dependency_groups=(),
        packages=[
            LockedPackage(
                name=p.name,
                version=p.version,
                marker=p.marker,
                requires_python=p.requires_python,
                dependencies=p.dependencies,
                index=p.index,
                sdist=p.sdist,
                wheels=list(reversed(p.wheels)),
            )
            for p in reversed(lock.packages)
        ],
    )
    assert shuffled == lock
    assert dumps_lock(shuffled) == dumps_lock(lock)


def test_packages_sorted_by_name_then_version() -> None:
    lock = Lock(
        packages=[
            LockedPackage(name="b", version="1.0", wheels=[wheel("b-1.0-py3-none-any.whl")]),
            LockedPackage(
                name="a", version="2.0", marker="python_version >= '3.12'", wheels=[wheel("a-2.0-py3-none-any.whl")]
            ),
            LockedPackage(
                name="a", version="10.0", marker="python_version < '3.12'", wheels=[wheel("a-10.0-py3-none-any.whl")]
            ),
            LockedPackage(
                name="a", version="1.5", marker="python_version < '3.10'", wheels=[wheel("a-1.5-py3-none-any.whl")]
            ),
        ]
    )
    text = dumps_lock(lock)
    order = [line for line in text.splitlines() if line.startswith("version = ")]
    assert order == ['version = "1.5"', 'version = "2.0"', 'version = "10.0"', 'version = "1.0"']
    assert loads_lock(text) == lock


def test_unknown_keys_and_tool_tables_survive(tmp_path: Path) -> None:
    text = '''\
lock-version = "1.0"
created-by = "other-tool"
future-key = { mode = "fast" }

[[packages]]
name = "alpha"
version = "1.0"
custom = ["x", "y"]
wheels = [{ url = "https://files.example.org/alpha-1.0-py3-none-any.whl", hashes = { sha256 = "ab" }, mirror = "m1" }]

[packages.tool.other]
note = "kept"

[tool.other]
seed = 42
nested = { deep = true }
'''
    lock = loads_lock(text)
    assert lock.unknown == {"future-key": {"mode": "fast"}}
    (alpha,) = lock.packages
    assert alpha.unknown == {"custom": ["x", "y"]}
    assert alpha.wheels[0].unknown == {"mirror": "m1"}
    assert alpha.tool == {"other": {"note": "kept"}}
    assert lock.tool == {"other": {"seed": 42, "nested": {"deep": True}}}
    assert any("`future-key`" in w.message and w.code == "lock-unknown-key" for w in lock.warnings)
    assert any("`packages[0].custom`" in w.message for w in lock.warnings)
    written = dumps_lock(lock)
    assert loads_lock(written) == lock
    assert toml_loads(written)["tool"] == {"other": {"seed": 42, "nested": {"deep": True}}}


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pylock.toml"
    target.write_text("old contents\n")
    lock = small_lock()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_lock(lock, target)
    assert target.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["pylock.toml"]  # no temporary file left behind
    monkeypatch.undo()
    assert write_lock(lock, target) == target
    assert read_lock(target) == lock
    assert os.listdir(tmp_path) == ["pylock.toml"]


def test_upload_time_is_written_in_utc() -> None:
    from datetime import timedelta

    paris = timezone(timedelta(hours=1))
    file = LockedFile(
        url="https://files.example.org/a-1.0.tar.gz", upload_time=datetime(2025, 1, 1, 13, 0, tzinfo=paris), hashes=h("a")
    )
    lock = Lock(packages=[LockedPackage(name="a", version="1.0", sdist=file)])
    assert "upload-time = 2025-01-01T12:00:00Z" in dumps_lock(lock)
    assert loads_lock(dumps_lock(lock)) == lock


# -- validation ------------------------------------------------------------------------------

VALID = '''\
lock-version = "1.0"
created-by = "test"

[[packages]]
name = "alpha"
version = "1.0"
wheels = [{ url = "https://files.example.org/alpha-1.0-py3-none-any.whl", hashes = { sha256 = "aa" } }]

[[packages]]
name = "beta"
version = "2.0"
wheels = [
    { url = "https://files.example.org/beta-2.0-py3-none-any.whl", hashes = { sha256 = "bb" } },
    { url = "https://files.example.org/beta-2.0-cp312-cp312-win_amd64.whl", hashes = { sha256 = "cc" } },
]
'''


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def lock_error(tmp_path: Path, text: str) -> LockFileError:
    path = tmp_path / "pylock.toml"
    path.write_text(text)
    with pytest.raises(LockFileError) as exc:
        read_lock(path)
    error = exc.value
    assert error.code == "invalid-lock"
    assert isinstance(error, PyxError)
    # the place is data: the message names the key, the location the file and line
    assert str(path) not in error.message and ", line" not in error.message
    assert error.location.path == str(path)
    return error


def test_the_valid_base_reads() -> None:
    assert [p.name for p in loads_lock(VALID).packages] == ["alpha", "beta"]


ALPHA_WHEEL = 'wheels = [{ url = "https://files.example.org/alpha-1.0-py3-none-any.whl", hashes = { sha256 = "aa" } }]\n'
BETA_WHEEL = 'url = "https://files.example.org/beta-2.0-py3-none-any.whl", '


def case(id: str, edits, key: str, line, words: str):
    """One malformed lock: ``edits`` are (old, new) replacements on VALID (old None: append new);
    ``line`` is the expected line (a number, a snippet of that line, or None for no line)."""
    return pytest.param(edits, key, line, words, id=id)


VALIDATION_CASES = [
    case("no-lock-version", [('lock-version = "1.0"\n', "")], "lock-version", None, "is required but missing"),
    case("no-created-by", [('created-by = "test"\n', "")], "created-by", None, "is required but missing"),
    case(
        "newer-major",
        [('"1.0"\ncreated', '"2.0"\ncreated')],
        "lock-version",
        "lock-version",
        "is `2.0`: pyx reads lock-version 1.x only",
    ),
    case("bad-lock-version", [('"1.0"\ncreated', '"one"\ncreated')], "lock-version", 1, "is not a valid version: `one`"),
    case(
        "lock-version-not-string",
        [('lock-version = "1.0"', "lock-version = 1.0")],
        "lock-version",
        1,
        "must be a string, not a float",
    ),
    case(
        "name-not-normalized",
        [('name = "beta"', 'name = "Beta_Pkg"'), ("beta-2.0", "beta_pkg-2.0")],
        "packages[1].name",
        "Beta_Pkg",
        "must be a normalized name: `Beta_Pkg` (PEP 751 wants `beta-pkg`)",
    ),
    case("no-name", [('name = "beta"\n', "")], "packages[1].name", 9, "is required but missing"),
    case(
        "bad-marker",
        [('version = "2.0"', 'version = "2.0"\nmarker = "os_name ==="')],
        "packages[1].marker",
        "os_name ===",
        "is not a valid environment marker: `os_name ===`",
    ),
    case(
        "bad-requires-python",
        [('version = "2.0"', 'version = "2.0"\nrequires-python = ">=3.x"')],
        "packages[1].requires-python",
        ">=3.x",
        "is not a valid version specifier: `>=3.x`",
    ),
    case(
        "bad-version",
        [('version = "2.0"', 'version = "two"')],
        "packages[1].version",
        "two",
        "is not a valid version: `two`",
    ),
    case(
        "wheel-without-hashes",
        [(', hashes = { sha256 = "cc" }', "")],
        "packages[1].wheels[1].hashes",
        "cp312-cp312-win_amd64",
        "is required but missing",
    ),
    case(
        "empty-hashes",
        [('{ sha256 = "cc" }', "{}")],
        "packages[1].wheels[1].hashes",
        "cp312-cp312-win_amd64",
        "is empty: at least one digest is required",
    ),
    case(
        "hash-not-string",
        [('{ sha256 = "cc" }', "{ sha256 = 12 }")],
        "packages[1].wheels[1].hashes.sha256",
        "cp312-cp312-win_amd64",
        "must be a non-empty string",
    ),
    case(
        "wheel-without-location",
        [(BETA_WHEEL, "")],
        "packages[1].wheels[0]",
        'sha256 = "bb"',
        "needs a `url` or a `path`",
    ),
    case(
        "wheel-of-other-package",
        [("beta-2.0-py3", "gamma-2.0-py3")],
        "packages[1].wheels[0]",
        "gamma-2.0",
        "is a file of another package: `gamma-2.0-py3-none-any.whl` is not `beta`",
    ),
    case(
        "wheel-of-other-version",
        [("beta-2.0-py3", "beta-2.1-py3")],
        "packages[1].wheels[0]",
        "beta-2.1",
        "is a file of another version: `beta-2.1-py3-none-any.whl` is not version `2.0`",
    ),
    case(
        "bad-wheel-name",
        [("beta-2.0-py3-none-any.whl", "beta-2.0.whl")],
        "packages[1].wheels[0]",
        "beta-2.0.whl",
        "is not a valid wheel file name: `beta-2.0.whl`",
    ),
    case(
        "size-not-integer",
        [('hashes = { sha256 = "bb" }', 'size = "12", hashes = { sha256 = "bb" }')],
        "packages[1].wheels[0].size",
        'size = "12"',
        "must be an integer, not a string",
    ),
    case(
        "upload-time-not-datetime",
        [('hashes = { sha256 = "bb" }', 'upload-time = "yesterday", hashes = { sha256 = "bb" }')],
        "packages[1].wheels[0].upload-time",
        "yesterday",
        "must be a date-time, not a string",
    ),
    case(
        "two-sources",
        [('version = "2.0"', 'version = "2.0"\ndirectory = { path = "." }')],
        "packages[1]",
        9,
        "(`beta`) has more than one kind of source: `directory`, `wheels`",
    ),
    case("no-source", [(ALPHA_WHEEL, "")], "packages[0]", 4, "(`alpha`) has no source"),
    case(
        "vcs-without-commit",
        [(ALPHA_WHEEL, 'vcs = { type = "git", url = "https://example.org/r.git" }\n')],
        "packages[0].vcs.commit-id",
        "vcs = {",
        "is required but missing",
    ),
    case(
        "directory-without-path",
        [(ALPHA_WHEEL, "directory = { editable = true }\n")],
        "packages[0].directory.path",
        "directory = {",
        "is required but missing",
    ),
    case(
        "attestation-without-kind",
        [(None, '\n[[packages.attestation-identities]]\nrepository = "x/y"\n')],
        "packages[1].attestation-identities[0].kind",
        "[[packages.attestation-identities]]",
        "is required but missing",
    ),
    case(
        "extras-not-normalized",
        [('created-by = "test"', 'created-by = "test"\nextras = ["Dev_Tools"]')],
        "extras[0]",
        "Dev_Tools",
        "must be a normalized name: `Dev_Tools`",
    ),
    case(
        "bad-environment",
        [('created-by = "test"', 'created-by = "test"\nenvironments = ["linux"]')],
        "environments[0]",
        "environments",
        "is not a valid environment marker: `linux`",
    ),
    case(
        "dependency-without-name",
        [('version = "2.0"', 'version = "2.0"\ndependencies = [{ version = "1.0" }]')],
        "packages[1].dependencies[0].name",
        "dependencies",
        "is required but missing",
    ),
]


@pytest.mark.parametrize(("edits", "key", "line", "words"), VALIDATION_CASES)
def test_validation_errors_name_file_line_and_key(tmp_path: Path, edits, key: str, line, words: str) -> None:
    text = VALID
    for old, new in edits:
        if old is None:
            text += new
        else:
            assert old in text, old
            text = text.replace(old, new, 1)
    error = lock_error(tmp_path, text)
    assert error.context["key"] == key
    assert f"`{key}` {words}" in error.message
    if line is None:
        assert error.location.line is None  # a missing top-level key has no line to point at
    else:
        expected = line if isinstance(line, int) else line_of(text, line)
        assert error.location.line == expected, error.message


def test_packages_is_required(tmp_path: Path) -> None:
    error = lock_error(tmp_path, 'lock-version = "1.0"\ncreated-by = "t"\n')
    assert error.context["key"] == "packages"
    assert "is required but missing" in error.message
    assert any("packages = []" in hint for hint in error.hints)
    assert loads_lock('lock-version = "1.0"\ncreated-by = "t"\npackages = []\n').packages == ()


def test_packages_must_be_tables(tmp_path: Path) -> None:
    error = lock_error(tmp_path, 'lock-version = "1.0"\ncreated-by = "t"\npackages = ["alpha"]\n')
    assert error.context["key"] == "packages[0]"
    assert "must be a table, not a string" in error.message
    assert error.location.line == 3


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace('version = "2.0"', "version = 2.0.0")
    error = lock_error(tmp_path, text)
    assert error.location.line == line_of(text, "2.0.0")
    assert "not valid TOML" in error.message


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LockFileError) as exc:
        read_lock(tmp_path / "pylock.toml")
    assert "does not exist" in exc.value.message and "pylock.toml`" in exc.value.message


def test_errors_in_array_of_tables_layout_point_at_the_right_wheel(tmp_path: Path) -> None:
    text = PEP_EXAMPLE.read_text().replace(
        "    hashes = {sha256 = '83807d445817326b4bcdaaaf8e8e9f1753da04341eceec705c001ff342002e5d'}\n", ""
    )
    error = lock_error(tmp_path, text)
    assert error.context["key"] == "packages[2].wheels[0].hashes"  # win_amd64 is the first numpy wheel
    assert error.location.line == line_of(text, "numpy-2.2.3-cp312-cp312-win_amd64.whl'") - 1  # its header


def test_newer_minor_version_reads_with_a_warning() -> None:
    gamma = """
[[packages]]
name = "gamma"
version = "1"
sdist = { path = "gamma-1.tar.gz", hashes = { sha256 = "dd" } }
shiny = true
"""
    text = VALID.replace('lock-version = "1.0"', 'lock-version = "1.1"') + gamma
    lock = loads_lock(text)
    assert lock.lock_version == "1.1"
    assert any("`1.1` is newer" in w.message and w.code == "lock-version-newer" for w in lock.warnings)
    shiny = next(w for w in lock.warnings if "`packages[2].shiny`" in w.message)
    assert shiny.location.line == line_of(text, "shiny = true")
    assert 'lock-version = "1.1"' in dumps_lock(lock)


def test_packages_need_not_be_sorted_nor_unique_to_read() -> None:
    text = VALID.replace('name = "alpha"', 'name = "zeta"').replace("alpha-1.0", "zeta-1.0")
    text += """
[[packages]]
name = "beta"
version = "3.0"
marker = "python_version < '3.8'"
sdist = { url = "https://files.example.org/beta-3.0.tar.gz", hashes = { sha256 = "ee" } }
"""
    lock = loads_lock(text)
    assert [(p.name, str(p.version)) for p in lock.packages] == [("beta", "2.0"), ("beta", "3.0"), ("zeta", "1.0")]


# -- naming ------------------------------------------------------------------------------------


def test_lock_path_for_project_script_and_notebook(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname='p'\n")
    script = project / "analysis.py"
    script.write_text("print(1)\n")
    notebook = project / "Explore.ipynb"
    notebook.write_text("{}")
    assert lock_path_for(project) == project / "pylock.toml"
    assert lock_path_for(project / "pyproject.toml") == project / "pylock.toml"
    assert lock_path_for(script) == project / "pylock.analysis.toml"
    assert lock_path_for(notebook) == project / "pylock.Explore.toml"  # the name keeps its case
    # not created yet: the suffix decides
    assert lock_path_for(project / "later.py") == project / "pylock.later.toml"
    assert lock_path_for(project / "subdir") == project / "subdir" / "pylock.toml"


def test_dots_are_the_one_character_pep751_forbids_in_a_name(tmp_path: Path) -> None:
    assert lock_path_for(tmp_path / "v1.2-report.py").name == "pylock.v1-2-report.toml"
    assert lock_path_for(tmp_path / ".hidden.ipynb").name == "pylock.-hidden.toml"
    assert lock_path_for(tmp_path / "my analysis.py").name == "pylock.my analysis.toml"
    for name in ("analysis.py", "v1.2-report.py", ".hidden.ipynb", "a.b.c.ipynb"):
        produced = lock_path_for(tmp_path / name).name
        assert is_lock_file_name(produced), produced
        pylock = pytest.importorskip("packaging.pylock")
        assert pylock.is_valid_pylock_path(Path(produced))


def test_lock_file_names() -> None:
    assert is_lock_file_name("pylock.toml")
    assert is_lock_file_name("pylock.analysis.toml")
    assert not is_lock_file_name("pylock.a.b.toml")
    assert not is_lock_file_name("pylock..toml")
    assert not is_lock_file_name("Pylock.toml")
    assert not is_lock_file_name("uv.lock")
    assert lock_name("pylock.analysis.toml") == "analysis"
    assert lock_name("pylock.toml") is None


# -- selection for a target ---------------------------------------------------------------------


def multi_lock(**kw) -> Lock:
    return Lock(
        requires_python=">=3.10",
        default_groups=("default",),
        dependency_groups=("dev",),
        extras=("gpu",),
        packages=[
            LockedPackage(
                name="numpy",
                version="2.2.3",
                index="https://index.example.org/simple/",
                sdist=sdist("numpy-2.2.3.tar.gz"),
                wheels=[
                    wheel("numpy-2.2.3-cp312-cp312-win_amd64.whl", "1"),
                    wheel("numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.whl", "2"),
                    wheel("numpy-2.2.3-py3-none-any.whl", "3"),
                ],
            ),
            LockedPackage(
                name="colorama", version="0.4.6", marker="sys_platform == 'win32'", wheels=[wheel("colorama-0.4.6-py3-none-any.whl")]
            ),
            LockedPackage(
                name="pytest", version="8.0", marker="'dev' in dependency_groups", wheels=[wheel("pytest-8.0-py3-none-any.whl")]
            ),
            LockedPackage(
                name="cupy", version="13.0", marker="'gpu' in extras", wheels=[wheel("cupy-13.0-cp312-cp312-manylinux_2_17_x86_64.whl")]
            ),
            LockedPackage(name="onlysrc", version="1.0", sdist=sdist("onlysrc-1.0.tar.gz")),
            LockedPackage(name="local", directory=DirectorySource(path="libs/local", editable=True)),
            LockedPackage(
                name="pinned",
                version="0.1",
                archive=LockedFile(url="https://example.org/pinned-0.1-py3-none-any.whl", hashes=h("9")),
            ),
        ],
        **kw,
    )


def chosen(selection) -> dict[str, str | None]:
    return {package.name: (file.filename if file is not None else None) for package, file in selection}


def test_select_by_markers_and_tags() -> None:
    linux = chosen(select_for_environment(multi_lock(), LINUX, LINUX_TAGS))
    assert linux == {
        "local": None,
        "numpy": "numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.whl",
        "onlysrc": "onlysrc-1.0.tar.gz",
        "pinned": "pinned-0.1-py3-none-any.whl",
    }
    windows = chosen(select_for_environment(multi_lock(), WINDOWS, WINDOWS_TAGS))
    assert windows["numpy"] == "numpy-2.2.3-cp312-cp312-win_amd64.whl"
    assert windows["colorama"] == "colorama-0.4.6-py3-none-any.whl"
    # a target with only generic tags gets the pure-Python wheel
    generic = chosen(select_for_environment(multi_lock(), LINUX, [Tag("py3", "none", "any")]))
    assert generic["numpy"] == "numpy-2.2.3-py3-none-any.whl"


def test_select_with_extras_and_groups() -> None:
    both = chosen(select_for_environment(multi_lock(), LINUX, LINUX_TAGS, extras=["GPU"], dependency_groups=["dev"]))
    assert both["cupy"] == "cupy-13.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    assert both["pytest"] == "pytest-8.0-py3-none-any.whl"
    default_dev = Lock(default_groups=("dev",), packages=multi_lock().packages, requires_python=">=3.10")
    assert "pytest" in chosen(select_for_environment(default_dev, LINUX, LINUX_TAGS))
    assert "pytest" not in chosen(select_for_environment(default_dev, LINUX, LINUX_TAGS, dependency_groups=()))


def test_select_refuses_a_marker_a_lock_cannot_hold() -> None:
    lock = Lock(
        packages=[LockedPackage(name="demo", version="1.0", marker="extra == 'x'", wheels=[wheel("demo-1.0-py3-none-any.whl")])]
    )
    with pytest.raises(LockFileError) as exc:
        select_for_environment(lock, LINUX, LINUX_TAGS)
    assert "`extra == \"x\"`" in exc.value.message and "`demo==1.0`" in exc.value.message


def test_select_accepts_a_tag_priority_mapping() -> None:
    priority = {tag: rank for rank, tag in enumerate(LINUX_TAGS)}
    assert chosen(select_for_environment(multi_lock(), LINUX, priority)) == chosen(
        select_for_environment(multi_lock(), LINUX, LINUX_TAGS)
    )
    as_strings = [str(t) for t in LINUX_TAGS]
    assert chosen(select_for_environment(multi_lock(), LINUX, as_strings))["numpy"].endswith("manylinux_2_17_x86_64.whl")


def test_select_prefers_the_higher_build_tag_on_a_tie() -> None:
    lock = Lock(
        packages=[
            LockedPackage(
                name="demo",
                version="1.0",
                wheels=[wheel("demo-1.0-1-py3-none-any.whl", "1"), wheel("demo-1.0-2-py3-none-any.whl", "2")],
            )
        ]
    )
    assert chosen(select_for_environment(lock, LINUX, LINUX_TAGS))["demo"] == "demo-1.0-2-py3-none-any.whl"


def test_select_falls_back_to_the_sdist_and_can_refuse_it() -> None:
    lock = Lock(
        packages=[
            LockedPackage(
                name="demo",
                version="1.0",
                sdist=sdist("demo-1.0.tar.gz"),
                wheels=[wheel("demo-1.0-cp312-cp312-win_amd64.whl")],
            )
        ]
    )
    assert chosen(select_for_environment(lock, LINUX, LINUX_TAGS))["demo"] == "demo-1.0.tar.gz"
    with pytest.raises(NoMatchingDistribution) as exc:
        select_for_environment(lock, LINUX, LINUX_TAGS, no_build=True)
    assert "`demo==1.0`" in exc.value.message
    assert any("demo-1.0-cp312-cp312-win_amd64.whl" in hint for hint in exc.value.hints)
    wheel_only = Lock(packages=[LockedPackage(name="demo", version="1.0", wheels=[wheel("demo-1.0-cp312-cp312-win_amd64.whl")])])
    with pytest.raises(NoMatchingDistribution) as exc:
        select_for_environment(wheel_only, LINUX, LINUX_TAGS)
    assert any("no sdist" in hint for hint in exc.value.hints)


def test_select_refuses_a_lock_for_another_python_or_platform() -> None:
    old_python = {**LINUX, "python_full_version": "3.9.1", "python_version": "3.9"}
    with pytest.raises(LockNotApplicable) as exc:
        select_for_environment(multi_lock(), old_python, LINUX_TAGS)
    assert exc.value.code == "lock-not-applicable"
    assert "`>=3.10`" in exc.value.message and "`3.9.1`" in exc.value.message
    windows_only = Lock(environments=["sys_platform == 'win32'"], packages=[])
    assert select_for_environment(windows_only, WINDOWS, WINDOWS_TAGS) == []
    with pytest.raises(LockNotApplicable) as exc:
        select_for_environment(windows_only, LINUX, LINUX_TAGS)
    assert "sys_platform == \"win32\"" in exc.value.message
    needs_313 = Lock(
        packages=[LockedPackage(name="new", version="1.0", requires_python=">=3.13", wheels=[wheel("new-1.0-py3-none-any.whl")])]
    )
    with pytest.raises(LockNotApplicable) as exc:
        select_for_environment(needs_313, LINUX, LINUX_TAGS)
    assert "`new==1.0`" in exc.value.message and "`>=3.13`" in exc.value.message


def test_select_needs_one_entry_per_package() -> None:
    def entry(version: str, marker: str) -> LockedPackage:
        return LockedPackage(name="demo", version=version, marker=marker, wheels=[wheel(f"demo-{version}-py3-none-any.whl")])

    exclusive = Lock(packages=[entry("1.0", "sys_platform == 'win32'"), entry("2.0", "sys_platform != 'win32'")])
    assert chosen(select_for_environment(exclusive, LINUX, LINUX_TAGS)) == {"demo": "demo-2.0-py3-none-any.whl"}
    assert chosen(select_for_environment(exclusive, WINDOWS, WINDOWS_TAGS)) == {"demo": "demo-1.0-py3-none-any.whl"}
    overlapping = Lock(packages=[entry("1.0", "os_name == 'posix'"), entry("2.0", "sys_platform == 'linux'")])
    with pytest.raises(LockFileError) as exc:
        select_for_environment(overlapping, LINUX, LINUX_TAGS)
    assert "two entries for `demo`" in exc.value.message


def test_select_from_the_uv_export() -> None:
    lock = read_lock(UV_EXPORT)
    linux = chosen(select_for_environment(lock, LINUX, LINUX_TAGS))
    assert "colorama" not in linux
    assert linux["markupsafe"] == "markupsafe-2.1.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert linux["project"] is None
    assert "colorama" in chosen(select_for_environment(lock, WINDOWS, WINDOWS_TAGS))


def test_to_dist_file(tmp_path: Path) -> None:
    package = LockedPackage(
        name="demo",
        version="1.0",
        index="https://index.example.org/simple/",
        wheels=[LockedFile(path="wheels/demo-1.0-py3-none-any.whl", size=5, hashes=h("d"))],
    )
    dist = to_dist_file(package, package.wheels[0], tmp_path)
    assert dist.url == (tmp_path / "wheels" / "demo-1.0-py3-none-any.whl").resolve().as_uri()
    assert dist.filename == "demo-1.0-py3-none-any.whl" and dist.version == Version("1.0")
    assert dist.hashes == h("d") and dist.size == 5 and dist.index == "https://index.example.org/simple/"
    remote = to_dist_file(package, wheel("demo-1.0-py3-none-any.whl"), tmp_path)
    assert remote.url == "https://files.example.org/demo-1.0-py3-none-any.whl"


# -- staleness ------------------------------------------------------------------------------------


def graph_lock(**kw) -> Lock:
    """app → lib → base, plus tool; created by pyx with the requirements it was made from."""
    return Lock(
        requires_python=">=3.10",
        packages=[
            LockedPackage(
                name="app", version="1.2", dependencies=[LockedDependency("lib")], wheels=[wheel("app-1.2-py3-none-any.whl")]
            ),
            LockedPackage(
                name="lib", version="2.0", dependencies=[LockedDependency("base")], wheels=[wheel("lib-2.0-py3-none-any.whl")]
            ),
            LockedPackage(name="base", version="0.5", wheels=[wheel("base-0.5-py3-none-any.whl")]),
            LockedPackage(name="tool", version="3.0", wheels=[wheel("tool-3.0-py3-none-any.whl")]),
        ],
        tool={"pyx": {"requirements": ["app>=1", "tool"]}},
        **kw,
    )


def test_fresh_lock_is_not_stale() -> None:
    assert is_stale(graph_lock(), ["app>=1", "tool"], ">=3.10") is None
    assert is_stale(graph_lock(), [Requirement("app>=1.2,<2"), "tool==3.0"], ">= 3.10") is None
    assert is_stale(graph_lock(), ["app>=1", "tool"]) is None  # requires-python not checked when not given


def test_changed_requires_python_is_stale() -> None:
    reason = is_stale(graph_lock(), ["app>=1", "tool"], ">=3.11")
    assert reason == "`requires-python` changed from `>=3.10` to `>=3.11`"
    unset = Lock(packages=graph_lock().packages, created_by="pyx")
    assert is_stale(unset, ["app", "tool"], ">=3.10") == (
        "`requires-python` is now `>=3.10`, and the lock was made without one"
    )


def test_unsatisfied_or_missing_requirement_is_stale() -> None:
    assert is_stale(graph_lock(), ["app>=2", "tool"]) == "`app>=2` is not satisfied by the locked `app==1.2`"
    assert is_stale(graph_lock(), ["app", "tool", "extra-pkg"]) == "`extra-pkg` is required, and `extra-pkg` is not in the lock"


def test_package_no_longer_needed_is_stale() -> None:
    assert is_stale(graph_lock(), ["app"]) == "`tool==3.0` is locked, and nothing requires it any more"
    # a transitive dependency is still needed through the graph
    assert is_stale(graph_lock(), ["app", "tool"]) is None
    # a lock without dependency data (uv's export) is not judged on that
    uv = read_lock(UV_EXPORT)
    assert is_stale(uv, ["flask[dotenv]"], ">=3.12") is None


def test_markers_of_requirements() -> None:
    windows_req = "colorama; sys_platform == 'win32'"
    assert is_stale(graph_lock(), ["app", "tool", windows_req], marker_environment=LINUX) is None
    assert is_stale(graph_lock(), ["app", "tool", windows_req]) is None  # cannot tell without a target
    reason = is_stale(graph_lock(), ["app", "tool", windows_req], marker_environment=WINDOWS)
    assert reason is not None and "`colorama` is not in the lock" in reason


def test_new_extras_are_stale_when_the_lock_records_its_requirements() -> None:
    reason = is_stale(graph_lock(), ["app[fast]>=1", "tool"])
    assert reason == "`app[fast]>=1` asks for extras `fast` the lock was not made with"
    with_extra = Lock(
        requires_python=">=3.10",
        packages=graph_lock().packages,
        tool={"pyx": {"requirements": ["app[fast]>=1", "tool"]}},
    )
    assert is_stale(with_extra, ["app[fast]>=1", "tool"]) is None


def test_direct_reference_requirements() -> None:
    lock = Lock(
        packages=[
            LockedPackage(
                name="pinned",
                version="0.1",
                archive=LockedFile(url="https://example.org/pinned-0.1-py3-none-any.whl", hashes=h("9")),
            ),
            LockedPackage(name="local", directory=DirectorySource(path="libs/local")),
        ]
    )
    local = "local @ file:///work/libs/local"
    assert is_stale(lock, ["pinned @ https://example.org/pinned-0.1-py3-none-any.whl", local]) is None
    reason = is_stale(lock, ["pinned @ https://example.org/pinned-0.2-py3-none-any.whl", local])
    assert reason is not None and "`pinned" in reason
    indexed = graph_lock()
    assert is_stale(indexed, ["app @ https://example.org/app-1.2-py3-none-any.whl", "tool"]) is not None


# -- building from a resolution ---------------------------------------------------------------------

INDEX = "https://****@index.example.org/simple/"


def dist(filename: str, char: str, *, hashes: bool = True, index: str = INDEX, **kw) -> DistFile:
    return DistFile(
        filename=filename,
        url=f"https://files.example.org/packages/{filename}",
        index=index,
        hashes=h(char) if hashes else {},
        **kw,
    )


def resolved(
    name: str, version: str, *via: Via, url: str | None = None, requires_python: str | None = None
) -> ResolvedPackage:
    candidate = Candidate(
        name=name,
        version=Version(version),
        url=url,
        requires_python=SpecifierSet(requires_python) if requires_python else None,
    )
    return ResolvedPackage(name=name, version=Version(version), candidate=candidate, via=tuple(via))


def user(req: str) -> Via:
    return Via(None, Requirement(req))


def by(name: str, req: str, extra: str | None = None) -> Via:
    return Via(name, Requirement(req), extra)


UPLOADED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def fake_result() -> ResolveResult:
    """requests → (idna, urllib3); rich[jupyter] → ipywidgets via the extra."""
    requests_files = (
        dist("requests-2.32.0-py3-none-any.whl", "1", size=64000, upload_time=UPLOADED),
        dist("requests-2.32.0.tar.gz", "2", size=130000, upload_time=UPLOADED),
    )
    idna_files = (dist("idna-3.7-py3-none-any.whl", "3"), dist("idna-3.7.zip", "4"), dist("idna-3.7.tar.gz", "5"))
    urllib3_files = (
        dist("urllib3-2.2.1-py3-none-any.whl", "6"),
        dist("urllib3-2.2.1-cp312-cp312-win_amd64.whl", "7"),
        dist("urllib3-2.2.1-cp312-cp312-macosx_11_0_arm64.whl", "x", hashes=False),  # no digest: left out
    )
    rich_files = (dist("Rich-13.7.0-py3-none-any.whl", "8"),)
    widgets_files = (dist("ipywidgets-8.1.0-py3-none-any.whl", "9"),)
    packages = {
        "idna": resolved("idna", "3.7", by("requests", "idna<4,>=2.5"), requires_python=">=3.5"),
        "ipywidgets": resolved("ipywidgets", "8.1.0", by("rich", "ipywidgets>=7.5.1; extra == 'jupyter'", "jupyter")),
        "requests": resolved("requests", "2.32.0", user("requests>=2.31"), requires_python=">=3.8"),
        "rich": resolved("rich", "13.7.0", user("rich[jupyter]")),
        "urllib3": resolved("urllib3", "2.2.1", by("requests", "urllib3<3,>=1.21.1")),
    }
    chosen_files = {
        "idna": idna_files[0],
        "ipywidgets": widgets_files[0],
        "requests": requests_files[0],
        "rich": rich_files[0],
        "urllib3": urllib3_files[0],
    }
    all_files = {
        "idna": idna_files,
        "ipywidgets": widgets_files,
        "requests": requests_files,
        "rich": rich_files,
        "urllib3": urllib3_files,
    }
    return ResolveResult(Resolution(packages), chosen_files, all_files)


REQUIREMENTS = ["requests>=2.31", "rich[jupyter]"]


def test_lock_from_resolution() -> None:
    lock = lock_from_resolution(fake_result(), requires_python=">=3.10", requirements=REQUIREMENTS)
    assert lock.created_by == "pyx" and lock.lock_version == "1.0"
    assert lock.requires_python == SpecifierSet(">=3.10")
    assert [p.name for p in lock.packages] == ["idna", "ipywidgets", "requests", "rich", "urllib3"]
    idna, widgets, requests, rich, urllib3 = lock.packages
    assert requests.version == Version("2.32.0")
    assert requests.requires_python == SpecifierSet(">=3.8")
    assert requests.index == "https://index.example.org/simple/"  # no credentials, not even redacted
    assert requests.sdist == LockedFile(
        url="https://files.example.org/packages/requests-2.32.0.tar.gz", upload_time=UPLOADED, size=130000, hashes=h("2")
    )
    assert [w.filename for w in requests.wheels] == ["requests-2.32.0-py3-none-any.whl"]
    assert requests.wheels[0].hashes == h("1")
    # dependencies are the resolution's `via`, inverted (an extra's requirement included)
    assert requests.dependencies == (LockedDependency("idna"), LockedDependency("urllib3"))
    assert rich.dependencies == (LockedDependency("ipywidgets"),)
    assert idna.dependencies == () and widgets.dependencies == ()
    # one sdist: .tar.gz preferred over .zip
    assert idna.sdist.filename == "idna-3.7.tar.gz"
    # every wheel with a digest, whatever the platform
    assert [w.filename for w in urllib3.wheels] == [
        "urllib3-2.2.1-cp312-cp312-win_amd64.whl",
        "urllib3-2.2.1-py3-none-any.whl",
    ]
    assert urllib3.sdist is None
    # the file name is written only when the URL's last part differs from it
    assert rich.wheels[0].name is None and rich.wheels[0].filename == "Rich-13.7.0-py3-none-any.whl"
    assert lock.tool == {"pyx": {"requirements": ["requests>=2.31", "rich[jupyter]"]}}


def test_lock_from_resolution_round_trips_and_installs(tmp_path: Path) -> None:
    lock = lock_from_resolution(fake_result(), requires_python=">=3.10", requirements=REQUIREMENTS)
    path = write_lock(lock, tmp_path / "pylock.toml")
    assert read_lock(path) == lock
    text = path.read_text()
    assert "****" not in text and "@index" not in text
    assert 'created-by = "pyx"' in text
    pylock = pytest.importorskip("packaging.pylock")
    pylock.Pylock.from_dict(toml_loads(text))
    picked = chosen(select_for_environment(lock, WINDOWS, WINDOWS_TAGS))
    assert picked["urllib3"] == "urllib3-2.2.1-cp312-cp312-win_amd64.whl"
    assert picked["requests"] == "requests-2.32.0-py3-none-any.whl"
    assert is_stale(lock, REQUIREMENTS, ">=3.10") is None
    # rich gone: ipywidgets (needed by rich's extra only) is the first package nothing requires
    assert is_stale(lock, ["requests>=2.31"], ">=3.10") == "`ipywidgets==8.1.0` is locked, and nothing requires it any more"


def test_lock_from_resolution_needs_digests() -> None:
    result = fake_result()
    files = dict(result.files)
    all_files = dict(result.all_files)
    bare = dist("rich-13.7.0-py3-none-any.whl", "0", hashes=False)
    files["rich"], all_files["rich"] = bare, (bare,)
    broken = ResolveResult(result.resolution, files, all_files)
    with pytest.raises(LockFileError) as exc:
        lock_from_resolution(broken)
    assert "`rich==13.7.0`" in exc.value.message and "`rich-13.7.0-py3-none-any.whl`" in exc.value.message
    # digests the caller computed (a local find-links file, say) fill the gap
    lock = lock_from_resolution(broken, hashes={bare.url: h("f")})
    assert lock.packages_named("rich")[0].wheels[0].hashes == h("f")


def test_lock_from_resolution_direct_references(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "libs" / "mylib").mkdir(parents=True)
    local_wheel = project / "wheels" / "local_pkg-0.3-py3-none-any.whl"
    local_wheel.parent.mkdir()
    local_wheel.write_bytes(b"wheel")
    remote_url = "https://example.org/dl/remote_pkg-1.0-py3-none-any.whl"
    commit = "a" * 40
    packages = {
        "mylib": resolved("mylib", "0.1", user("mylib @ file://x"), url=(project / "libs" / "mylib").as_uri()),
        "local-pkg": resolved("local-pkg", "0.3", user("local-pkg"), url=local_wheel.as_uri()),
        "remote-pkg": resolved("remote-pkg", "1.0", user("remote-pkg"), url=remote_url + "#sha256=" + "e" * 64),
        "vcs-pkg": resolved(
            "vcs-pkg", "2.0", user("vcs-pkg"), url=f"git+https://example.org/repo.git@{commit}#subdirectory=pkg"
        ),
    }
    files = {
        "local-pkg": DistFile(filename=local_wheel.name, url=local_wheel.as_uri(), index="", hashes=h("l")),
        "remote-pkg": DistFile(filename="remote_pkg-1.0-py3-none-any.whl", url=remote_url, index="", hashes=h("e")),
    }
    result = ResolveResult(Resolution(packages), files, {k: (v,) for k, v in files.items()})
    lock = lock_from_resolution(result, lock_dir=project, editable=["mylib"])
    local, mylib, remote, vcs = lock.packages
    assert mylib.version is None  # PEP 751: no version for a source tree
    assert mylib.directory == DirectorySource(path="libs/mylib", editable=True)
    assert local.archive == LockedFile(path="wheels/local_pkg-0.3-py3-none-any.whl", hashes=h("l"))
    assert local.index is None
    assert remote.archive == LockedFile(url=remote_url, hashes=h("e"))
    assert vcs.vcs == VcsSource(type="git", commit_id=commit, url="https://example.org/repo.git", subdirectory="pkg")
    assert loads_lock(dumps_lock(lock)) == lock
    picked = chosen(select_for_environment(lock, LINUX, LINUX_TAGS))
    assert picked == {
        "local-pkg": "local_pkg-0.3-py3-none-any.whl",
        "mylib": None,
        "remote-pkg": "remote_pkg-1.0-py3-none-any.whl",
        "vcs-pkg": None,
    }
    assert to_dist_file(local, local.archive, project).url == local_wheel.resolve().as_uri()


def test_lock_from_resolution_refuses_a_vcs_reference_without_commit() -> None:
    packages = {"vcs-pkg": resolved("vcs-pkg", "2.0", user("vcs-pkg"), url="git+https://example.org/repo.git@main")}
    with pytest.raises(LockFileError) as exc:
        lock_from_resolution(ResolveResult(Resolution(packages), {}, {}))
    assert "full commit id" in exc.value.message and "`vcs-pkg`" in exc.value.message


# -- the parsed-lock memo ------------------------------------------------------------------------


def test_a_lock_read_through_the_cache_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx_server.engine.cache import Bucket, Cache
    from pyx_server.engine.lock import read as read_module

    cache = Cache(tmp_path / "cache")
    text = dumps_lock(small_lock())
    first = loads_lock(text, cache=cache)
    assert first == loads_lock(text)
    memos = list((cache.root / Bucket.LOCKS.value).iterdir())
    assert len(memos) == 1

    def no_parse(*_):
        raise AssertionError("parsed again")

    monkeypatch.setattr(read_module, "_parse_toml", no_parse)
    again = loads_lock(text, cache=cache)
    assert again == first and [p.version for p in again.packages] == [p.version for p in first.packages]
    with pytest.raises(AssertionError, match="parsed again"):
        loads_lock(text.replace('created-by = "pyx"', 'created-by = "other"'), cache=cache)  # new text: parsed


@pytest.mark.parametrize("memo", [b"", b"not a pickle", b"\x80\x04K\x01."])  # the last one is `1`
def test_an_unreadable_lock_memo_is_a_miss(tmp_path: Path, memo: bytes) -> None:
    from pyx_server.engine.cache import Bucket, Cache

    cache = Cache(tmp_path / "cache")
    text = dumps_lock(small_lock())
    loads_lock(text, cache=cache)
    (path,) = (cache.root / Bucket.LOCKS.value).iterdir()
    path.write_bytes(memo)
    assert loads_lock(text, cache=cache) == loads_lock(text)
    assert path.read_bytes() != memo  # rewritten
    cache.prune()
    assert not path.exists()


def test_an_invalid_lock_is_reported_through_the_cache_too(tmp_path: Path) -> None:
    from pyx_server.engine.cache import Cache

    with pytest.raises(LockFileError):
        loads_lock('lock-version = "1.0"\n[[packages]]\nversion = "1"\n', cache=Cache(tmp_path / "cache"))
