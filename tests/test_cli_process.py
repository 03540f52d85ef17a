"""`pyx` as separate processes: concurrent installs into one cache, kills mid-way, terminals."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import open_venv
from pyx_server.engine.envs.interpreter import query_interpreter
from pyx_server.engine.envs.venv import create_venv
from pyx_server.engine.install.wheel import read_record
from tests.support.cli import fresh_python, pyx, pyx_process
from tests.support.wheels import build_wheel
from tests.support.envs import site


def make_venv(path: Path, cache_dir: Path) -> Path:
    cache = Cache(cache_dir)
    create_venv(path, query_interpreter(sys.executable, cache), cache=cache)
    return path


def many_files(n: int, big: int = 0) -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {f"bulky/m{i:04d}.py": f"X = {i}\n" * 20 for i in range(n)}
    files["bulky/__init__.py"] = ""
    if big:
        files["bulky/blob.bin"] = os.urandom(big)
    return files


def assert_complete(venv: Path, name: str) -> None:
    """Every file the installed RECORD lists exists with its recorded size."""
    dists = open_venv(venv).installed()
    assert name in dists, sorted(dists)
    site_dir = dists[name].dist_info.parent
    for entry in read_record(dists[name].dist_info):
        path = (site_dir / entry.path).resolve()
        assert path.exists(), entry.path
        if entry.size is not None:
            assert path.stat().st_size == int(entry.size), entry.path


def test_two_processes_install_into_one_cache(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    names = [f"pkg{i}" for i in range(6)]
    for name in names:
        index.build(name, "1.0", files={f"{name}/__init__.py": "", f"{name}/data.bin": os.urandom(50_000)})
    index.delay = 0.05  # both processes are in flight at once
    req = tmp_path / "r.txt"
    req.write_text("".join(f"{n}==1.0\n" for n in names))
    venvs = [make_venv(tmp_path / f"v{i}", cache_dir) for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pyx_server", "pip", "sync", str(req), "-i", index.url, "-p", str(v)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for v in venvs
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    for v in venvs:
        assert sorted(open_venv(v).installed()) == names
        for n in names:
            assert_complete(v, n)
    archives = [p for p in (cache_dir / "archive-v1").iterdir() if not p.name.endswith(".lock")]
    assert len(archives) == len(names)  # each wheel unpacked exactly once
    assert list(Cache(cache_dir).tmp.iterdir()) == []


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pyx_server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def test_killed_while_unpacking_leaves_no_cache_entry_and_rerun_repairs(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    served = index.build("bulky", "1.0", files=many_files(4000))
    venv = make_venv(tmp_path / "v", cache_dir)
    cache = Cache(cache_dir)
    proc = _start(["pip", "install", "--no-deps", "bulky==1.0", "-i", index.url, "-p", str(venv)])
    tmp = cache_dir / ".tmp"
    caught = _wait_for(lambda: tmp.exists() and any(p.name.startswith("archive-") for p in tmp.iterdir()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert caught, "the install finished before it could be interrupted"
    # an interrupted unpack is never visible as a cache entry
    assert cache.archive(served.sha256) is None
    assert "bulky" not in open_venv(venv).installed()
    run = pyx("pip", "install", "--no-deps", "bulky==1.0", "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert_complete(venv, "bulky")
    assert len(list(cache.archive(served.sha256).rglob("*.py"))) == 4001
    cache.prune()
    assert list(cache.tmp.iterdir()) == []


def test_killed_while_linking_is_repaired_by_the_next_run(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("bulky", "1.0", files=many_files(4000))
    venv = make_venv(tmp_path / "v", cache_dir)
    # fill the cache first, so the next run spends its time linking
    assert pyx("pip", "install", "--no-deps", "bulky==1.0", "-i", index.url, "-p", venv).code == 0
    assert pyx("pip", "uninstall", "bulky", "-p", venv).code == 0
    proc = _start(["pip", "install", "--no-deps", "bulky==1.0", "-i", index.url, "-p", str(venv), "--link-mode", "copy"])
    package = site(venv) / "bulky"
    caught = _wait_for(lambda: package.exists() and any(package.iterdir()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert caught
    dists = open_venv(venv).installed()
    if "bulky" in dists:  # the kill came after the very last step
        assert_complete(venv, "bulky")
    run = pyx("pip", "install", "--no-deps", "bulky==1.0", "-i", index.url, "-p", venv)
    assert run.code == 0, run.err
    assert_complete(venv, "bulky")


def test_progress_bars_only_on_a_terminal(local_index, tmp_path: Path, cache_dir: Path) -> None:
    index = local_index()
    index.build("alpha", "1.0", files={"alpha/__init__.py": "", "alpha/blob.bin": os.urandom(300_000)})
    index.delay = 0.4
    venv = make_venv(tmp_path / "v", cache_dir)
    args = [sys.executable, "-m", "pyx_server", "pip", "install", "--no-deps", "alpha==1.0", "-i", index.url, "-p", str(venv)]

    piped = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr and "Downloading" not in piped.stderr
    assert " + alpha==1.0" in piped.stderr

    assert pyx("pip", "uninstall", "alpha", "-p", venv).code == 0
    Cache(cache_dir).clean()
    code, screen = _on_a_terminal(args)
    assert code == 0, screen
    assert "Downloading" in screen or "Installing" in screen
    assert "\x1b[" in screen


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its stdout and stderr: (exit code, what it drew)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env={**os.environ, "COLUMNS": "100"})
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(primary)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_uninstall_a_package_pip_installed(tmp_path: Path, cache_dir: Path) -> None:
    venv = make_venv(tmp_path / "v", cache_dir)
    wheel = build_wheel(tmp_path / "dist", "pipmade", "1.0", entry_points={"console_scripts": {"pipmade": "pipmade:main"}},
                        files={"pipmade/__init__.py": "def main():\n    pass\n"})
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-index", "--no-deps",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    if proc.returncode != 0:
        pytest.skip(f"pip could not install into the venv here: {proc.stderr[-300:]}")
    dists = open_venv(venv).installed()
    assert dists["pipmade"].installer == "pip"
    before = set(site(venv).iterdir())
    run = pyx("pip", "uninstall", "pipmade", "-p", venv)
    assert run.code == 0, run.err
    assert " - pipmade==1.0" in run.err
    assert not (venv / "bin" / "pipmade").exists()
    assert not (site(venv) / "pipmade").exists()
    assert "pipmade" not in open_venv(venv).installed()
    assert {p.name for p in before - set(site(venv).iterdir())} >= {"pipmade", "pipmade-1.0.dist-info"}


def test_user_errors_never_print_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "r.txt"
    bad.write_text("this is not valid !!\n")
    for args in (["pip", "sync", str(bad), "--system"], ["pip", "install", "--no-deps", "x==1", "-p", str(tmp_path / "nope")]):
        proc = pyx_process(*args, cwd=tmp_path)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        # an error about a file line starts with its place, as compilers print it
        assert re.match(rf"(error: |{re.escape(str(bad))}:1: error: )", proc.stderr), proc.stderr


def test_two_processes_installing_into_one_environment_take_turns(local_index, tmp_path: Path, cache_dir: Path) -> None:
    from pyx_server.engine import locks

    index = local_index()
    for name in ("left", "right"):
        index.build(name, "1.0", files={f"{name}/__init__.py": "", **{f"{name}/m{i}.py": "" for i in range(300)}})
    venv = make_venv(tmp_path / "v", cache_dir)
    # the environment is held (as a third pyx would) while both start: each must wait for it,
    # say so, and change nothing until it is free
    with locks.hold_sync(venv / ".lock", what="the test"):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "pyx_server", "pip", "install", "--no-deps", f"{name}==1.0",
                 "-i", index.url, "-p", str(venv)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for name in ("left", "right")
        ]
        for p in procs:
            said = []  # what each says until it waits (at the default verbosity); EOF if it never does
            while not said or said[-1] and "Waiting for another operation" not in said[-1]:
                said.append(p.stderr.readline())
            assert f"Waiting for another operation on the environment `{venv}`" in said[-1], "".join(said)
        assert open_venv(venv).installed() == {}
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    for name in ("left", "right"):
        assert_complete(venv, name)


def _sync_reporting_asyncio(req: Path, index_url: str, venv: Path) -> tuple[subprocess.CompletedProcess, bool]:
    """``pyx pip sync`` in a process of its own; also says whether it imported asyncio."""
    code = (
        "import sys\n"
        "from pyx_server.cli.launch import main\n"
        "try:\n"
        "    code = main()\n"
        "finally:\n"
        "    sys.stderr.write(f'\\nasyncio imported: {\"asyncio\" in sys.modules}\\n')\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "pip", "sync", str(req), "-i", index_url, "-p", str(venv)],
        capture_output=True, text=True, timeout=120,
    )
    return proc, "asyncio imported: True" in proc.stderr


def test_a_warm_install_runs_without_an_event_loop_and_a_cold_one_moves_onto_one(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    # engine.loop: with every wheel cached nothing waits on I/O, so asyncio (a tenth of a
    # warm CLI run) is never imported; a download moves the same install onto a loop
    index = local_index()
    for name in ("alpha", "beta"):
        index.build(name, "1.0", files={f"{name}/__init__.py": f"NAME = {name!r}\n"})
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\n")
    cold, cold_loop = _sync_reporting_asyncio(req, index.url, make_venv(tmp_path / "cold", cache_dir))
    assert cold.returncode == 0, cold.stderr
    assert cold_loop
    venv = make_venv(tmp_path / "warm", cache_dir)
    warm, warm_loop = _sync_reporting_asyncio(req, index.url, venv)
    assert warm.returncode == 0, warm.stderr
    assert not warm_loop
    assert sorted(open_venv(venv).installed()) == ["alpha", "beta"]
    for name in ("alpha", "beta"):
        assert_complete(venv, name)


def test_a_download_that_fails_while_other_wheels_unpack_in_worker_processes_leaves_all_consistent(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    # a single-threaded pyx (piped, no progress thread) unpacks cold wheels in forked workers
    index = local_index()
    for name in ("alpha", "beta"):
        index.build(name, "1.0", files=many_files(300))
    broken = index.build("gamma", "1.0", files={"gamma/__init__.py": ""})
    index.fail(100, path=f"/files/{broken.filename}")
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\ngamma==1.0\n")
    venv = make_venv(tmp_path / "v", cache_dir)
    proc = pyx_process("pip", "sync", req, "-i", index.url, "-p", venv, env={"PYX_HTTP_RETRIES": "1"})
    assert proc.returncode != 0
    assert "gamma" in proc.stderr and "Traceback" not in proc.stderr
    assert open_venv(venv).installed() == {}  # nothing changes until every wheel is in the cache
    cache = Cache(cache_dir)
    assert list(cache.tmp.iterdir()) == []
    for entry in (cache_dir / "archive-v1").iterdir():  # the wheels that did arrive are whole
        if not entry.name.endswith(".lock"):
            assert any(p.name.endswith(".dist-info") for p in entry.iterdir())
    leftover = subprocess.run(["pgrep", "-f", f"pyx_server pip sync {req}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""  # no worker process outlives the install


#: runs pyx (its arguments after the script's) and ends its stderr with the jobs it gave worker
#: processes, by kind
_COUNTING_WORKER_JOBS = (
    "import collections, sys\n"
    "from pyx_server.engine import forked\n"
    "kinds = collections.Counter()\n"
    "run = forked.Workers.run\n"
    "def counted(self, kind, *args, **options):\n"
    "    kinds[kind] += 1\n"
    "    return run(self, kind, *args, **options)\n"
    "forked.Workers.run = counted\n"
    "from pyx_server.cli.launch import main\n"
    "try:\n"
    "    code = main()\n"
    "finally:\n"
    "    sys.stderr.write(f'\\nworker jobs: {dict(kinds)!r}\\n')\n"
    "sys.exit(code)\n"
)


def _sync_counting_worker_jobs(req: Path, index_url: str, venv: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``pyx pip sync`` in a process of its own; also counts the jobs it gave worker processes, by kind."""
    proc = subprocess.run(
        [sys.executable, "-c", _COUNTING_WORKER_JOBS, "pip", "sync", str(req), "-i", index_url, "-p", str(venv), *extra],
        capture_output=True, text=True, timeout=120,
    )
    jobs = proc.stderr.rpartition("worker jobs: ")[2].strip()
    return proc, eval(jobs) if jobs.startswith("{") else {}  # noqa: S307 - our own repr


def test_cold_wheels_are_downloaded_by_worker_processes_whose_retries_are_reported(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    # piped and single-threaded, pyx forks workers that download, check and unpack each wheel
    # with a GIL of their own; their events (a retry here) reach the parent's output
    index = local_index(auth=("user", "s3cret-pw"))
    served = [index.build(name, "1.0", files=many_files(50)) for name in ("alpha", "beta", "gamma")]
    index.fail(1, path=f"/files/{served[0].filename}")
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\ngamma==1.0\n")
    venv = make_venv(tmp_path / "v", cache_dir)
    proc, jobs = _sync_counting_worker_jobs(req, index.auth_url, venv, "-v")
    assert proc.returncode == 0, proc.stderr
    assert jobs == {"fetch": 3}
    assert "Prepared 3 packages" in proc.stderr  # those fetched while pages were read count too
    assert f"retrying {index.file_url(served[0].filename)}" in proc.stderr  # shown without the credentials
    assert "s3cret-pw" not in proc.stdout + proc.stderr
    assert sorted(open_venv(venv).installed()) == ["alpha", "beta", "gamma"]
    for name in ("alpha", "beta", "gamma"):
        assert_complete(venv, name)
    assert index.count(f"/files/{served[0].filename}", status=500) == 1
    assert list(Cache(cache_dir).tmp.iterdir()) == []


def test_a_wheel_that_fails_its_hash_in_a_worker_is_refused_and_not_cached(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    index = local_index()
    good = index.build("alpha", "1.0", files={"alpha/__init__.py": ""})
    bad = index.add(build_wheel(tmp_path / "w", "beta", "1.0"), hashes={"sha256": "0" * 64})  # a wrong hash
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\n")
    venv = make_venv(tmp_path / "v", cache_dir)
    proc, jobs = _sync_counting_worker_jobs(req, index.url, venv)
    assert proc.returncode != 0
    assert jobs.get("fetch", 0) >= 1
    assert bad.filename in proc.stderr and "hash" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert open_venv(venv).installed() == {}
    archives = [p for p in (cache_dir / "archive-v1").iterdir() if not p.name.endswith(".lock")]
    assert [a.name for a in archives] in ([good.sha256], [])  # the good one may have arrived; never the bad one
    assert list(Cache(cache_dir).tmp.iterdir()) == []


def test_the_terminal_display_stops_its_thread_while_the_engine_forks():
    # the engine forks its workers only from a process with one thread (engine.forked): the
    # progress display's redrawing thread stops for that moment, and starts again after
    out = fresh_python(
        "import threading\n"
        "from pyx_server.cli.main import Console\n"
        "from pyx_server.cli.progressbars import reporter_for\n"
        "with reporter_for(Console(), enabled=True) as reporter:\n"
        "    before = threading.active_count()\n"
        "    with reporter.no_threads():\n"
        "        during = threading.active_count()\n"
        "    after = threading.active_count()\n"
        "print(before, during, after, threading.active_count())\n"
    )
    assert out.split() == ["2", "1", "2", "1"]


def test_on_a_terminal_worker_processes_download_and_the_display_shows_it(
    local_index, tmp_path: Path, cache_dir: Path
) -> None:
    index = local_index()
    for name in ("alpha", "beta"):
        index.build(name, "1.0", files={f"{name}/__init__.py": "", f"{name}/blob.bin": os.urandom(400_000)})
    index.delay = 0.3  # slow enough for the display to draw the downloads
    venv = make_venv(tmp_path / "v", cache_dir)
    req = tmp_path / "r.txt"
    req.write_text("alpha==1.0\nbeta==1.0\n")
    status, screen = _on_a_terminal([sys.executable, "-c", _COUNTING_WORKER_JOBS, "pip", "sync", str(req), "-i", index.url,
                                     "-p", str(venv)])
    assert status == 0, screen
    assert "worker jobs: {'fetch': 2}" in screen
    assert "Downloading" in screen  # the workers' download events reach the display as they happen
    assert sorted(open_venv(venv).installed()) == ["alpha", "beta"]


@pytest.mark.parametrize("verb", ["clean", "prune"])
def test_cache_clean_or_prune_during_a_cold_install_waits_for_it(local_index, tmp_path: Path, cache_dir: Path, verb: str) -> None:
    # both broke installs in flight (FileNotFoundError, InvalidWheel, half-installed
    # environments): now they wait for the install to end, then do their work
    index = local_index()
    names = [f"pkg{i}" for i in range(4)]
    for name in names:
        index.build(name, "1.0", files={f"{name}/__init__.py": "", f"{name}/data.bin": os.urandom(200_000),
                                        **{f"{name}/m{i}.py": "" for i in range(1500)}})
    index.delay = 0.05
    req = tmp_path / "r.txt"
    req.write_text("".join(f"{n}==1.0\n" for n in names))
    for round in range(3):
        venv = make_venv(tmp_path / f"v{round}", cache_dir)
        cache = tmp_path / f"cache{round}"  # cold each round
        install = subprocess.Popen([sys.executable, "-m", "pyx_server", "--cache-dir", str(cache), "pip", "sync", str(req),
                                    "-i", index.url, "-p", str(venv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tmp = cache / ".tmp"  # unpacking (1,500 files a wheel) is under way there
        assert _wait_for(lambda: tmp.exists() and any(tmp.iterdir())), "the install finished before the cache was touched"
        maintenance = subprocess.run([sys.executable, "-m", "pyx_server", "--cache-dir", str(cache), "cache", verb],
                                     capture_output=True, text=True, timeout=120)
        _, err = install.communicate(timeout=120)
        assert install.returncode == 0, err
        assert "Traceback" not in err
        assert maintenance.returncode == 0, maintenance.stderr
        assert sorted(open_venv(venv).installed()) == names
        for name in names:
            assert_complete(venv, name)
