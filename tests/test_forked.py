"""engine.forked: jobs shared between this process and forked copies, results and errors sent back."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pyx_server.engine.errors import InvalidWheel
from pyx_server.engine.forked import run_forked, shares
from tests.support.cli import fresh_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")


def test_shares_are_balanced_by_weight_heaviest_first():
    split = shares([1, 9, 3, 7, 5], weight=float, processes=2)
    assert sorted(x for share in split for x in share) == [1, 3, 5, 7, 9]
    assert [sum(s) for s in split] in ([13, 12], [12, 13])
    assert all(share == sorted(share, reverse=True) for share in split)


def touch_and_report(directory: Path):
    def job(n: int) -> tuple[int, int]:
        (directory / f"{n}.done").write_text(str(os.getpid()))
        return n, os.getpid()

    return job


def test_every_job_runs_once_here_or_in_a_copy_and_its_result_comes_back(tmp_path):
    results = list(run_forked(touch_and_report(tmp_path), list(range(10)), processes=2))
    assert sorted(n for n, _ in results) == list(range(10))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2  # a share ran in a forked copy
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.done" for n in range(10))


def test_a_failure_in_a_copy_is_raised_here_after_every_other_job_ran(tmp_path):
    parent = os.getpid()

    def job(n: int) -> int:
        (tmp_path / f"{n}.done").touch()
        if os.getpid() != parent and n == 6:  # 6, the second heaviest, is in the copy's share
            raise InvalidWheel(f"wheel `w{n}` is corrupt", context={"n": n}, hints=["download it again"])
        return n

    with pytest.raises(InvalidWheel, match="w6") as caught:
        list(run_forked(job, list(range(8)), processes=2, weight=float))
    assert caught.value.context == {"n": 6} and caught.value.hints == ["download it again"]
    assert len(list(tmp_path.iterdir())) == 8


def test_a_failure_here_is_raised_after_the_copy_finished(tmp_path):
    parent = os.getpid()

    def job(n: int) -> int:
        (tmp_path / f"{n}.done").touch()
        if os.getpid() == parent and n == 7:  # 7, the heaviest, is in this process's share
            raise ValueError("here")
        return n

    with pytest.raises(ValueError, match="here"):
        list(run_forked(job, list(range(8)), processes=2, weight=float))
    assert len(list(tmp_path.iterdir())) == 8


def test_an_exception_that_cannot_be_pickled_still_comes_back_as_an_error(tmp_path):
    class Local(Exception):  # a local class cannot be pickled
        pass

    parent = os.getpid()

    def job(n: int) -> int:
        if os.getpid() != parent:
            raise Local("nope")
        return n

    with pytest.raises(RuntimeError, match="could not be sent back"):
        list(run_forked(job, [0, 1, 2, 3], processes=2, weight=float))


def test_a_copy_that_dies_is_an_error_not_a_silent_loss(tmp_path):
    parent = os.getpid()

    def job(n: int) -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # the copy dies mid-share
        return n

    with pytest.raises(OSError, match="ended unexpectedly"):
        list(run_forked(job, list(range(6)), processes=2, weight=float))


def test_closing_the_results_early_still_waits_for_the_copies(tmp_path):
    results = run_forked(touch_and_report(tmp_path), list(range(6)), processes=2)
    next(results)
    results.close()
    copies = {int(p.read_text()) for p in tmp_path.iterdir()} - {os.getpid()}
    assert len(copies) == 1
    assert len([p for p in tmp_path.iterdir() if int(p.read_text()) in copies]) == 3  # its whole share
    with pytest.raises(ChildProcessError):
        os.waitpid(copies.pop(), os.WNOHANG)  # already reaped: no zombie left behind


def test_completed_forks_only_when_nothing_else_runs_in_the_process(tmp_path):
    # this test process has threads (pytest-xdist, the test harness): completed keeps threads;
    # a fresh single-threaded interpreter forks
    code = (
        "import os, sys\n"
        "from pyx_server.engine.loop import completed, run\n"
        "async def main():\n"
        "    return [r async for r in completed(lambda n: os.getpid(), range(6), workers=2, processes_ok=True)]\n"
        "print(len(set(run(main()))))\n"
    )
    out = fresh_python(code)
    assert out == "2"


# -- Workers: forked copies that run one job at a time ----------------------------------------

def add_and_pid(a: int, b: int) -> tuple[int, int]:
    return a + b, os.getpid()


def test_workers_run_jobs_in_forked_copies_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    from pyx_server.engine.forked import Workers

    workers = Workers(add_and_pid, 2)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda n: workers.run(n, 1), range(20)))
    finally:
        workers.close()
    assert [total for total, _ in results] == [n + 1 for n in range(20)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # closed: every copy reaped


def fail_with_a_pyx_error(n: int) -> int:
    raise InvalidWheel(f"wheel `w{n}` is corrupt", context={"n": n}, hints=["download it again"])


def test_a_workers_error_is_raised_here_with_its_data_and_the_worker_stays_usable():
    from pyx_server.engine.forked import Workers

    workers = Workers(fail_with_a_pyx_error, 1)
    try:
        for n in (1, 2):  # the same copy answers again after an error
            with pytest.raises(InvalidWheel, match=f"w{n}") as caught:
                workers.run(n)
            assert caught.value.context == {"n": n} and caught.value.hints == ["download it again"]
    finally:
        workers.close()


def die(_: int) -> int:
    os._exit(3)


def test_a_worker_that_dies_is_an_error_and_no_caller_waits_forever():
    from pyx_server.engine.forked import Workers

    workers = Workers(die, 1)
    try:
        with pytest.raises(OSError, match="ended unexpectedly"):
            workers.run(1)
        with pytest.raises(OSError, match="ended unexpectedly"):
            workers.run(2)  # the pool is broken: said at once, not a hang
    finally:
        workers.close()


def test_an_unpacking_worker_commits_nothing_once_its_parent_is_gone(tmp_path):
    from pyx_server.engine.cache import Cache
    from pyx_server.engine.errors import InstallError
    from pyx_server.engine.install.fetch import _unpack_in_worker
    from tests.support.wheels import build_wheel

    wheel = build_wheel(tmp_path / "dist", "demo", "1.0", files={"demo/__init__.py": "X = 1\n"})
    import hashlib

    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    cache = Cache(tmp_path / "cache")
    with pytest.raises(InstallError, match="stopped"):
        _unpack_in_worker(str(cache.root), sha256, str(wheel), wheel.name, parent=os.getpid())  # not our parent
    assert cache.archive(sha256) is None and list(cache.tmp.iterdir()) == []
    archive = _unpack_in_worker(str(cache.root), sha256, str(wheel), wheel.name, parent=os.getppid())
    assert Path(archive) == cache.archive(sha256) and (Path(archive) / "demo" / "__init__.py").is_file()


def test_when_no_process_can_be_forked_the_work_is_done_here(monkeypatch, tmp_path):
    from pyx_server.engine import forked
    from pyx_server.engine.install.fetch import _Unpackers

    def refuse():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    results = list(run_forked(touch_and_report(tmp_path), list(range(6)), processes=3))
    assert sorted(n for n, _ in results) == list(range(6)) and {pid for _, pid in results} == {os.getpid()}
    with pytest.raises(OSError):
        forked.Workers(add_and_pid, 2)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    unpackers = _Unpackers(enabled=True)
    unpackers.start()  # falls back to threads rather than failing the install
    assert unpackers.workers is None


def test_workers_set_the_objects_they_inherit_aside_from_collection_until_closed():
    import gc

    from pyx_server.engine.forked import Workers

    before = gc.get_freeze_count()
    workers = Workers(add_and_pid, 2)
    try:
        assert gc.get_freeze_count() > before  # a copy's collections do not touch (copy) them
        assert workers.run(20, 22)[0] == 42
    finally:
        workers.close()
    assert gc.get_freeze_count() == 0


def send_three_events_then_add(a: int, b: int) -> int:
    from pyx_server.engine.forked import send_event

    for i in range(3):
        send_event(("step", i))
    return a + b


def test_a_jobs_events_reach_the_caller_in_order_before_its_result():
    from pyx_server.engine.forked import Workers

    workers = Workers(send_three_events_then_add, 1)
    try:
        seen = []
        assert workers.run(2, 3, on_event=seen.append) == 5
        assert seen == [("step", 0), ("step", 1), ("step", 2)]
        assert workers.run(1, 1) == 2  # without on_event the events are dropped, the job still answers
    finally:
        workers.close()


def test_send_event_outside_a_worker_is_an_error():
    from pyx_server.engine.forked import send_event

    with pytest.raises(RuntimeError, match="worker process"):
        send_event("nothing listens")
