"""Packages that ship the same file, installed together: deterministic, whatever the scheduling."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from packaging.utils import canonicalize_name

from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.install.wheel import read_record
from tests.support.cli import pyx, pyx_process
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


def test_overlapping_packages_warn_record_their_own_copies_and_uninstall_keeps_what_others_list(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    index = local_index()
    for name in ("Alpha_Pkg", "beta", "gamma"):  # a loser spelt unlike its normalized name
        index.build(name, "1.0", files=overlapping(3, name))
    index.build("same", "1.0", files={"bulky/__init__.py": "", "same/__init__.py": ""})  # an identical copy
    req = tmp_path / "r.txt"
    req.write_text("alpha-pkg==1.0\nbeta==1.0\ngamma==1.0\nsame==1.0\n")
    venv = make_venv(tmp_path / "v", cache_dir)
    run = pyx("pip", "sync", req, "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    # one warning, for the files whose copies differ (as uv warns); the identical __init__.py is fine
    assert run.err.count("warning") == 1, run.err
    assert "`bulky/m0000.py` and 2 other files are shipped by `alpha-pkg`, `beta` and `gamma`" in run.err
    bulky = site(venv) / "bulky"
    dists = open_venv(venv).installed()
    for name in ("Alpha_Pkg", "beta", "gamma"):
        rows = {e.path: e for e in read_record(dists[canonicalize_name(name)].dist_info)}
        assert "bulky/m0000.py" in rows  # each lists the file it ships, with the hash of its own copy
        own = base64.urlsafe_b64encode(hashlib.sha256(f"OWNER = {name!r}\n".encode()).digest()).rstrip(b"=").decode()
        assert rows["bulky/m0000.py"].hash == f"sha256={own}"

    run = pyx("pip", "uninstall", "-y", "gamma", "-p", venv)
    assert run.code == 0, run.err
    assert (bulky / "m0000.py").read_text() == "OWNER = 'gamma'\n"  # alpha and beta still list it
    run = pyx("pip", "uninstall", "-y", "alpha-pkg", "beta", "-p", venv)
    assert run.code == 0, run.err
    assert sorted(p.name for p in bulky.iterdir()) == ["__init__.py"]  # `same` still lists this one
    run = pyx("pip", "uninstall", "-y", "same", "-p", venv)
    assert run.code == 0, run.err
    assert not bulky.exists()


def test_claims_give_each_contested_path_to_one_wheel_whatever_the_spelling_of_its_name(tmp_path: Path) -> None:
    # unit level, one wheel at a time: what a job does does not depend on which job ran first
    from pyx_server.engine.install.contents import scan_contents
    from pyx_server.engine.install.linker import Linker
    from pyx_server.engine.install.transaction import EnvironmentChange
    from tests.test_installer import make_venv as plain_venv
    from tests.test_installer import unpacked

    env = plain_venv(tmp_path / "venv")
    shared = {"bulky/a.py": "A = 1\n", "bin_like/tool.py": "T = 1\n"}
    loser = unpacked(tmp_path, "Alpha_Pkg", "1.0", files={**shared, "alpha_pkg/__init__.py": ""},
                     entry_points={"console_scripts": {"tool": "alpha_pkg:main"}})
    winner = unpacked(tmp_path, "gamma", "1.0", files={**shared, "bulky/a.py": "A = 3\n"},
                      entry_points={"console_scripts": {"tool": "bulky:main"}}, data={"scripts/extra": "#!/bin/sh\n"})
    with EnvironmentChange(env.site) as tx:
        contents = tx.claims({"alpha-pkg": loser, "gamma": winner}, env.scheme, lambda a: None)
        done = tx.install(loser, env.scheme, python=env.python, linker=Linker(), contents=contents["alpha-pkg"])
    assert (env.site / "alpha_pkg" / "__init__.py").exists()
    assert not (env.site / "bulky" / "a.py").exists()  # left to gamma, the later name
    assert not (env.scheme.scripts / "tool").exists()  # the launcher too
    rows = {e.path: e for e in read_record(done.dist_info)}
    assert "bulky/a.py" in rows and "../../../bin/tool" in rows
    assert contents["alpha-pkg"].name == "Alpha_Pkg" and scan_contents(loser).name == "Alpha_Pkg"


def test_uninstall_keeps_a_launcher_another_distribution_lists(tmp_path: Path) -> None:
    from pyx_server.engine.install.installer import install_wheel, uninstall
    from pyx_server.engine.install.linker import Linker
    from tests.test_installer import make_venv as plain_venv
    from tests.test_installer import unpacked

    env = plain_venv(tmp_path / "venv")
    first = install_wheel(unpacked(tmp_path, "one", "1.0", files={"one.py": "def main(): pass\n"},
                                   entry_points={"console_scripts": {"tool": "one:main"}}),
                          env.scheme, python=env.python, linker=Linker())
    install_wheel(unpacked(tmp_path, "two", "1.0", files={"two.py": "def main(): pass\n"},
                           entry_points={"console_scripts": {"tool": "two:main"}}),
                  env.scheme, python=env.python, linker=Linker())
    uninstall(first.dist_info)
    assert not (env.site / "one.py").exists()
    assert "two" in (env.scheme.scripts / "tool").read_text()  # `two` lists it: it stays
