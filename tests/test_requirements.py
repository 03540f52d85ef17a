"""Requirements as users write them: specifiers, wheel paths and URLs, pip-style files."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from pyx_server.engine.errors import InvalidRequirement, RequirementsFileError
from pyx_server.engine.requirements import parse_requirement, parse_requirements_file
from tests.support.wheels import build_wheel

SHA = "a" * 64


def test_pep508_requirement_with_extras_and_marker() -> None:
    spec = parse_requirement('Foo_Bar[x,y]>=1,<2 ; python_version >= "3.8"')
    assert spec.name == "foo-bar"
    assert spec.requirement.extras == {"x", "y"}
    assert spec.pinned_version is None
    assert str(spec.requirement.marker) == 'python_version >= "3.8"'


@pytest.mark.parametrize(
    ("text", "pinned"),
    [("a==1.2", Version("1.2")), ("a===1.2", Version("1.2")), ("a==1.*", None), ("a>=1", None), ("a==1,<2", None)],
)
def test_pinned_version(text: str, pinned: Version | None) -> None:
    assert parse_requirement(text).pinned_version == pinned


def test_invalid_requirement_names_the_value_and_source() -> None:
    with pytest.raises(InvalidRequirement) as exc:
        parse_requirement("numpy>=>1", source="reqs.txt:3")
    assert "`numpy>=>1`" in exc.value.message
    assert "reqs.txt:3" in exc.value.message
    assert exc.value.hints


def test_wheel_path_takes_name_from_filename(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "Demo.Pkg", "1.0")
    spec = parse_requirement(str(wheel))
    assert spec.name == "demo-pkg"
    assert spec.path == wheel
    assert spec.url == wheel.as_uri()


def test_relative_wheel_path_resolves_against_base_dir(tmp_path: Path) -> None:
    build_wheel(tmp_path / "dist", "demo", "1.0")
    spec = parse_requirement("./dist/demo-1.0-py3-none-any.whl", base_dir=tmp_path)
    assert spec.path == tmp_path / "dist" / "demo-1.0-py3-none-any.whl"


def test_missing_wheel_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequirement, match="does not exist"):
        parse_requirement("./nope-1.0-py3-none-any.whl", base_dir=tmp_path)


def test_source_trees_and_sdists_take_their_names(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text('[project]\nname = "My_Proj"\nversion = "1"\n')
    spec = parse_requirement("./proj", base_dir=tmp_path)
    assert spec.name == "my-proj" and spec.path == tmp_path / "proj"
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "setup.cfg").write_text("[metadata]\nname = old.style\n")
    assert parse_requirement("./legacy", base_dir=tmp_path).name == "old-style"
    (tmp_path / "demo-2.0.tar.gz").write_bytes(b"")
    assert parse_requirement("./demo-2.0.tar.gz", base_dir=tmp_path).name == "demo"
    (tmp_path / "anonymous").mkdir()
    with pytest.raises(InvalidRequirement, match="cannot tell the project name") as exc:
        parse_requirement("./anonymous", base_dir=tmp_path)
    assert any("name @" in h for h in exc.value.hints)


def test_wheel_url_with_hash_fragment() -> None:
    spec = parse_requirement(f"https://example.invalid/files/demo-2.0-py3-none-any.whl#sha256={SHA}")
    assert spec.name == "demo"
    assert spec.hashes == {"sha256": (SHA,)}
    assert spec.path is None


def test_name_at_url() -> None:
    spec = parse_requirement("demo @ https://example.invalid/demo-2.0-py3-none-any.whl")
    assert spec.url == "https://example.invalid/demo-2.0-py3-none-any.whl"


def test_requirements_file_full_syntax(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("six==1.16.0\n")
    (tmp_path / "cons.txt").write_text("idna<4\n")
    (tmp_path / "reqs.txt").write_text(
        "# a comment\n"
        "-r base.txt\n"
        "-c cons.txt\n"
        "--index-url http://127.0.0.1:1/simple\n"
        "--extra-index-url=http://127.0.0.1:2/simple\n"
        "-f ./wheels\n"
        "attrs==23.1.0 \\\n"
        f"    --hash=sha256:{SHA} \\\n"
        f"    --hash sha256:{'b' * 64}\n"
        "requests>=2  # trailing comment\n"
        "colorama==0.4.6 ; sys_platform == 'win32'\n"
        "${PKG_NAME}==1.0\n"
    )
    parsed = parse_requirements_file(tmp_path / "reqs.txt", env={"PKG_NAME": "tomli"})
    names = [s.name for s in parsed.requirements]
    assert names == ["six", "attrs", "requests", "colorama", "tomli"]
    assert [s.name for s in parsed.constraints] == ["idna"]
    assert parsed.index_url == "http://127.0.0.1:1/simple"
    assert parsed.extra_index_urls == ["http://127.0.0.1:2/simple"]
    assert parsed.find_links == [str(tmp_path / "wheels")]
    attrs = parsed.requirements[1]
    assert attrs.hashes == {"sha256": (SHA, "b" * 64)}
    assert attrs.source == f"{tmp_path / 'reqs.txt'}:7"
    assert str(parsed.requirements[2].requirement) == "requests>=2"


def test_requirements_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("six==1.0\n\nnot a requirement!!\n")
    with pytest.raises(InvalidRequirement) as exc:
        parse_requirements_file(path)
    # the place is data (the CLI prints `r.txt:3: error: …`), not part of the message
    assert (exc.value.location.path, exc.value.location.line) == (str(path), 3)
    assert str(path) not in exc.value.message and exc.value.to_dict()["location"]["line"] == 3

    path.write_text("--frobnicate\n")
    with pytest.raises(RequirementsFileError, match="^unknown option `--frobnicate`$") as exc:
        parse_requirements_file(path)
    assert exc.value.location.line == 1

    path.write_text("six==1.0\nsix==1.0 \\\n  --hash=md5:zz\n")
    with pytest.raises(RequirementsFileError, match="^`--hash=md5:zz` is not a valid hash$") as exc:
        parse_requirements_file(path)
    assert exc.value.location.line == 2  # a continued line is reported where it starts

    path.write_text("six==1.0 --hash sha256\n")
    with pytest.raises(RequirementsFileError, match="is not a valid hash") as exc:
        parse_requirements_file(path)
    assert exc.value.location.line == 1


def test_an_error_in_a_nested_file_keeps_the_nested_files_place(tmp_path: Path) -> None:
    (tmp_path / "outer.txt").write_text("six\n-r inner.txt\n")
    (tmp_path / "inner.txt").write_text("\n\n--nope\n")
    with pytest.raises(RequirementsFileError) as exc:
        parse_requirements_file(tmp_path / "outer.txt")
    assert (exc.value.location.path, exc.value.location.line) == (str(tmp_path / "inner.txt"), 3)


def test_a_long_run_of_blanks_is_read_in_linear_time(tmp_path: Path) -> None:
    # the old comment pattern backtracked through the blanks from each of them: 44 s for
    # 100,000; 2,000,000 would take hours that way (far past the suite's timeout), none now
    path = tmp_path / "r.txt"
    path.write_text("six" + " " * 2_000_000 + "\n" + "seven" + " " * 2_000_000 + "# a comment\n")
    parsed = parse_requirements_file(path)
    assert [spec.name for spec in parsed.requirements] == ["six", "seven"]


def test_requirements_file_missing_and_recursive(tmp_path: Path) -> None:
    with pytest.raises(RequirementsFileError, match="does not exist"):
        parse_requirements_file(tmp_path / "absent.txt")
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(RequirementsFileError, match="includes itself"):
        parse_requirements_file(tmp_path / "a.txt")


def test_editable_lines(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text('[project]\nname = "proj"\n')
    (tmp_path / "r.txt").write_text("-e ./proj\n")
    (spec,) = parse_requirements_file(tmp_path / "r.txt").requirements
    assert spec.editable and spec.name == "proj" and spec.path == tmp_path / "proj"
    (tmp_path / "r.txt").write_text("-e ./missing\n")
    with pytest.raises(InvalidRequirement, match="does not exist"):
        parse_requirements_file(tmp_path / "r.txt")


def test_constraints_narrow_but_never_add() -> None:
    from pyx_server.engine.requirements import apply_constraints

    reqs = [parse_requirement("alpha>=1"), parse_requirement("beta")]
    cons = [parse_requirement("alpha<2", source="c.txt:1"), parse_requirement("gamma==1")]
    narrowed = apply_constraints(reqs, cons)
    assert [str(s.requirement) for s in narrowed] == ["alpha<2,>=1", "beta"]
    with pytest.raises(InvalidRequirement, match="constraints restrict versions only"):
        apply_constraints(reqs, [parse_requirement("alpha @ https://example.invalid/alpha-1-py3-none-any.whl")])
