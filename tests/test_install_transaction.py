"""Installs into an environment are all or nothing: a failure part-way leaves it as it was."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.install import installer as installer_mod
from pyx_server.engine.install import transaction as transaction_mod
from pyx_server.engine.install.linker import Linker
from pyx_server.engine.install.transaction import STAGING_PREFIX
from tests.support.cli import pyx
from tests.support.envs import site


def snapshot(venv: Path) -> dict[str, str]:
    """Every directory and file of the environment, with a digest of each file's bytes."""
    found: dict[str, str] = {}
    for directory, dirs, files in os.walk(venv):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found[os.path.relpath(directory, venv) + "/"] = "dir"
        for name in files:
            path = os.path.join(directory, name)
            if path == str(venv / ".lock"):
                continue  # the environment's lock file: made by the first install
            if os.path.islink(path):
                found[os.path.relpath(path, venv)] = "-> " + os.readlink(path)
            else:
                with open(path, "rb") as f:
                    found[os.path.relpath(path, venv)] = hashlib.sha256(f.read()).hexdigest()
    return found


def installed(venv: Path) -> dict[str, str]:
    return {name: str(d.version) for name, d in open_venv(venv).installed().items()}


def reqs(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def served(local_index):
    """An index with five packages (two versions of ``alpha``), each with files of its own."""
    index = local_index()
    for name, version in [("alpha", "1.0"), ("alpha", "2.0"), ("beta", "1.0"), ("gamma", "1.0"),
                          ("delta", "1.0"), ("extra", "1.0")]:
        files = {f"{name}/__init__.py": f"VERSION = {version!r}\n",
                 **{f"{name}/m{i}.py": f"X = {i}  # {version}\n" for i in range(20)}}
        if name == "alpha" and version == "1.0":
            files["alpha/only_in_one.py"] = "GONE = True\n"
        index.build(name, version, files=files,
                    entry_points={"console_scripts": {f"{name}-cli": f"{name}:main"}})
    return index


def start(venv: Path, tmp_path: Path, index) -> dict[str, str]:
    """The environment before the failing install: alpha 1.0 (to be upgraded) and extra (to go)."""
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0", "extra==1.0"), "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    return snapshot(venv)


def fail_on(monkeypatch: pytest.MonkeyPatch, marker: str, exc: OSError, *, writes: bool = False) -> list[str]:
    """Make linking (or, with ``writes``, writing) any file whose path holds ``marker`` raise ``exc``."""
    hits: list[str] = []
    if writes:
        real_write = installer_mod._write_new

        def write(path: str, data: bytes, mode: int) -> None:
            if marker in path:
                hits.append(path)
                raise exc
            real_write(path, data, mode)

        monkeypatch.setattr(installer_mod, "_write_new", write)
        return hits
    real_files, real_link = Linker.link_files, Linker.link

    def link_files(self, src_base, dst_base, paths, start=0):
        for i in range(start, len(paths)):
            if marker in dst_base + paths[i]:
                end, failure = real_files(self, src_base, dst_base, paths[:i], start)
                if failure is not None:
                    return end, failure
                hits.append(dst_base + paths[i])
                return i, exc
        return real_files(self, src_base, dst_base, paths, start)

    def link(self, src, dst):
        if marker in str(dst):
            hits.append(str(dst))
            raise exc
        return real_link(self, src, dst)

    monkeypatch.setattr(Linker, "link_files", link_files)
    monkeypatch.setattr(Linker, "link", link)
    return hits


FAILURES = {
    "input/output error": (OSError(errno.EIO, "Input/output error"), False),
    "permission denied": (PermissionError(errno.EACCES, "Permission denied"), False),
    "disk full": (OSError(errno.ENOSPC, "No space left on device"), True),
}


@pytest.mark.parametrize("failing", ["alpha", "beta", "delta"])
@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_failure_in_any_package_leaves_the_environment_as_it_was(
    served, venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, kind: str
) -> None:
    # sync removes `extra`, upgrades alpha 1.0 -> 2.0 and adds beta, gamma, delta; one of them fails
    before = start(venv, tmp_path, served)
    exc, writes = FAILURES[kind]
    marker = f"{failing}-2.0.dist-info/RECORD" if writes and failing == "alpha" else (
        f"{failing}-1.0.dist-info/RECORD" if writes else f"/{failing}/m7.py")
    hits = fail_on(monkeypatch, marker, exc, writes=writes)
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==2.0", "beta==1.0", "gamma==1.0", "delta==1.0"),
              "-i", served.url, "-p", venv)
    assert hits, "the failure was never injected"
    assert run.code != 0
    assert exc.strerror in run.err and "Traceback" not in run.err
    assert "the environment was left as it was before the install" in run.err
    assert installed(venv) == {"alpha": "1.0", "extra": "1.0"}
    assert snapshot(venv) == before
    assert not [p for p in site(venv).iterdir() if p.name.startswith(STAGING_PREFIX)]

    monkeypatch.undo()  # and the next run does it all
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==2.0", "beta==1.0", "gamma==1.0", "delta==1.0"),
              "-i", served.url, "-p", venv)
    assert run.code == 0, run.err
    assert installed(venv) == {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0"}
    assert not (site(venv) / "alpha" / "only_in_one.py").exists()


def test_a_failed_removal_puts_back_what_was_removed_before_it(
    served, venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0", "beta==1.0", "extra==1.0"), "-i", served.url, "-p", venv)
    assert run.code == 0, run.err
    before = snapshot(venv)
    real = transaction_mod.move_into

    def move_into(staging: str, path: str) -> str:
        if path.endswith("/extra/m3.py"):  # `beta` and part of `extra` are already staged
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(staging, path)

    monkeypatch.setattr(transaction_mod, "move_into", move_into)
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==1.0"), "-i", served.url, "-p", venv)
    assert run.code != 0 and "Permission denied" in run.err and "Traceback" not in run.err
    assert installed(venv) == {"alpha": "1.0", "beta": "1.0", "extra": "1.0"}
    assert snapshot(venv) == before

    run = pyx("pip", "uninstall", "-y", "beta", "extra", "-p", venv)
    assert run.code != 0 and "Permission denied" in run.err
    assert snapshot(venv) == before  # `pip uninstall` of several names is all or nothing too


def engine_install(venv: Path, index, *specs: str, reporter):
    from pyx_server.engine.config import IndexSettings
    from pyx_server.engine.install.operations import InstallOptions, install
    from pyx_server.engine.loop import run as run_engine
    from pyx_server.engine.requirements import parse_requirement

    env = open_venv(venv)
    return run_engine(install([parse_requirement(s, source="test") for s in specs], env,
                              index=IndexSettings(indexes=(index.url,), find_links=()),
                              cache=Cache(env.cache.root), options=InstallOptions(), reporter=reporter))


def test_an_install_interrupted_while_jobs_run_is_rolled_back(served, venv: Path, tmp_path: Path) -> None:
    from pyx_server.engine.progress import Installed, Reporter

    before = start(venv, tmp_path, served)

    class Interrupting(Reporter):
        def report(self, event) -> None:
            if isinstance(event, Installed):
                raise KeyboardInterrupt  # Ctrl-C once the first wheel is in, the others on their way

    with pytest.raises(KeyboardInterrupt):
        engine_install(venv, served, "alpha==2.0", "beta==1.0", "gamma==1.0", "delta==1.0", reporter=Interrupting())
    assert snapshot(venv) == before


def test_the_staging_directory_of_a_killed_process_is_removed_by_the_next_run(
    served, venv: Path, tmp_path: Path
) -> None:
    start(venv, tmp_path, served)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = site(venv) / f"{STAGING_PREFIX}{int(ended.stdout)}-0123abcd"
    (dead / "7-0").mkdir(parents=True)  # a staged dist-info of a process killed mid-install
    alive = site(venv) / f"{STAGING_PREFIX}{os.getppid()}-feedf00d"
    alive.mkdir()  # a running process's: left alone
    run = pyx("pip", "sync", reqs(tmp_path, "alpha==2.0"), "-i", served.url, "-p", venv)
    assert run.code == 0, run.err
    assert not dead.exists()
    assert alive.exists()


def test_notices_of_an_upgrade_are_reported_on_the_operation_thread(
    served, venv: Path, tmp_path: Path
) -> None:
    # the Reporter contract (engine.progress): report() runs on the thread running the operation
    from pyx_server.engine.progress import Notice, Reporter

    start(venv, tmp_path, served)
    record = site(venv) / "alpha-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "../../../../outside.txt,,\n")  # reported when alpha goes

    class Threads(Reporter):
        def __init__(self) -> None:
            self.seen: list[tuple[object, int]] = []

        def report(self, event) -> None:
            self.seen.append((event, threading.get_ident()))

    reporter = Threads()
    result = engine_install(venv, served, "alpha==2.0", "beta==1.0", "gamma==1.0", reporter=reporter)
    assert {c.name for c in result.installed} == {"alpha", "beta", "gamma"}
    assert any(isinstance(e, Notice) and "outside.txt" in e.message for e, _ in reporter.seen)
    assert {thread for _, thread in reporter.seen} == {threading.get_ident()}


def test_a_wheel_installed_by_a_worker_whose_result_never_arrived_is_rolled_back(tmp_path: Path) -> None:
    # a forked worker installs and is interrupted before its result reaches the coordinator
    from pyx_server.engine.install.installer import install_wheel
    from pyx_server.engine.install.transaction import EnvironmentChange
    from tests.test_installer import make_venv as plain_venv
    from tests.test_installer import unpacked

    env = plain_venv(tmp_path / "venv")
    before = snapshot(env.root)
    wheel = unpacked(tmp_path, "alpha", "1.0", files={"alpha/__init__.py": "", "alpha/deep/er/m.py": ""},
                     entry_points={"console_scripts": {"alpha": "alpha:main"}})
    with pytest.raises(KeyboardInterrupt):
        with EnvironmentChange(env.site) as tx:
            tx.claims({"alpha": wheel}, env.scheme, lambda a: None)
            install_wheel(wheel, env.scheme, python=env.python, linker=Linker(),
                          staging=tx.staging)  # as in the worker: the coordinator never hears of it
            raise KeyboardInterrupt
    assert snapshot(env.root) == before
