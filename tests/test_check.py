"""Pure checks of installed distributions against requirements (pip check, already-satisfied)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from pyx_server.engine.install.check import check_environment, unsatisfied

MARKERS = {"python_version": "3.11", "python_full_version": "3.11.4", "sys_platform": "linux"}


@dataclass(frozen=True)
class Dist:
    name: str
    version: Version
    dist_info: Path
    direct_url: dict | None = None

    @property
    def display_name(self) -> str:
        return self.name


def dist(tmp_path: Path, name: str, version: str, *requires: str) -> Dist:
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"] + [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n\n")
    return Dist(name, Version(version), info)


def test_transitive_and_extras(tmp_path: Path) -> None:
    installed = {
        "app": dist(tmp_path, "app", "1.0", "lib>=1", "fast ; extra == 'speed'", "win ; sys_platform == 'win32'"),
        "lib": dist(tmp_path, "lib", "1.5", "base<2"),
        "base": dist(tmp_path, "base", "1.0"),
    }
    assert unsatisfied([(None, Requirement("app"))], installed, MARKERS) == []
    problems = unsatisfied([(None, Requirement("app[speed]"))], installed, MARKERS)
    assert [str(p) for p in problems] == ["app 1.0 requires `fast; extra == \"speed\"`, which is not installed"]
    assert [str(p) for p in unsatisfied([(None, Requirement("lib>=2"))], installed, MARKERS)] == [
        "you require `lib>=2`, but `lib` 1.5 is installed"
    ]


def test_check_environment_lists_each_broken_requirement(tmp_path: Path) -> None:
    installed = {
        "app": dist(tmp_path, "app", "1.0", "lib>=2", "gone"),
        "lib": dist(tmp_path, "lib", "1.5"),
    }
    assert sorted(str(p) for p in check_environment(installed, MARKERS)) == [
        "app 1.0 requires `gone`, which is not installed",
        "app 1.0 requires `lib>=2`, but `lib` 1.5 is installed",
    ]
