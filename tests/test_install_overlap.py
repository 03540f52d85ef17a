"""Packages that ship the same file, installed together: deterministic, whatever the scheduling."""

from __future__ import annotations

from pathlib import Path

from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.install.wheel import read_record
from tests.support.cli import pyx_process
from tests.test_cli_process import make_venv, site


def overlapping(n: int, name: str) -> dict[str, str]:
    """``bulky/m0000.py`` … shared by every package, each with its own content (its name)."""
    files = {f"bulky/m{i:04d}.py": f"OWNER = {name!r}\n" for i in range(n)}
    files["bulky/__init__.py"] = ""
    files[f"{name}/__init__.py"] = ""
    return files


def test_cold_installs_of_packages_shipping_the_same_files_agree_on_the_later_one(
    local_index, tmp_path: Path
) -> None:
    index = local_index()
    for name in ("alpha", "beta", "gamma"):
        index.build(name, "1.0", files=overlapping(300, name))
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\ngamma==1.0\n")
    for round in range(6):  # every round starts from an empty cache: the race of issue 11 was 2 in 6
        cache = tmp_path / f"cache{round}"
        venv = make_venv(tmp_path / f"v{round}", cache)
        proc = pyx_process("pip", "sync", req, "-i", index.url, "-p", venv, env={"PYX_CACHE_DIR": str(cache)})
        assert proc.returncode == 0, proc.stderr
        assert sorted(open_venv(venv).installed()) == ["alpha", "beta", "gamma"]
        bulky = site(venv) / "bulky"
        owners = {(bulky / f"m{i:04d}.py").read_text() for i in range(300)}
        assert owners == {"OWNER = 'gamma'\n"}, round  # the last in name order wins, every file
