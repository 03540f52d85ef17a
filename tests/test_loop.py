"""engine.loop: engine coroutines run without an event loop until they ask for one."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyx_server.engine.loop import Slots, completed, current_loop, run, running_loop, to_thread
from tests.support.cli import fresh_python


def test_a_coroutine_that_needs_no_loop_runs_without_one():
    seen = []

    async def work():
        seen.append(current_loop())
        return 42

    assert run(work()) == 42
    assert seen == [None]


def test_the_coroutine_moves_onto_a_loop_when_it_asks_and_nothing_runs_twice():
    steps = []

    async def work():
        steps.append("before")
        loop = await running_loop()
        steps.append("after")
        assert loop is asyncio.get_running_loop()
        await asyncio.sleep(0)
        values = await asyncio.gather(asyncio.sleep(0, "a"), asyncio.sleep(0, "b"))
        return values, loop

    values, loop = run(work())
    assert values == ["a", "b"]
    assert steps == ["before", "after"]
    assert loop.is_closed()  # asyncio.run's loop, finished with the coroutine


def test_asking_again_on_the_loop_changes_nothing():
    async def work():
        first = await running_loop()
        second = await running_loop()
        return first is second

    assert run(work()) is True


@pytest.mark.parametrize("switch", [False, True], ids=["without-loop", "on-loop"])
def test_exceptions_come_out_of_run_as_they_were_raised(switch):
    class Boom(Exception):
        pass

    async def work():
        if switch:
            await running_loop()
            await asyncio.sleep(0)
        raise Boom("bad")

    with pytest.raises(Boom, match="bad"):
        run(work())


def test_finally_blocks_run_when_the_loop_part_fails():
    cleaned = []

    async def work():
        try:
            await running_loop()
            await asyncio.sleep(0)
            raise ValueError("late")
        finally:
            cleaned.append(True)

    with pytest.raises(ValueError):
        run(work())
    assert cleaned == [True]


def test_run_inside_a_running_loop_runs_the_coroutine_on_another_thread():
    # (it refused before: a cell in a running kernel needs it; see test_loop_worker.py)
    async def inner():
        return threading.get_ident()

    async def outer():
        return run(inner())

    assert asyncio.run(outer()) != threading.get_ident()


def test_a_wait_without_asking_for_the_loop_is_named():
    class Bare:
        def __await__(self):
            yield "something"

    async def work():
        await Bare()

    with pytest.raises(RuntimeError, match="running_loop"):
        run(work())


def test_to_thread_calls_inline_without_a_loop_and_on_a_thread_with_one():
    async def where():
        return await to_thread(threading.current_thread)

    assert run(where()) is threading.current_thread()
    assert asyncio.run(where()) is not threading.current_thread()


@pytest.mark.parametrize("on_loop", [False, True], ids=["without-loop", "on-loop"])
def test_completed_yields_every_result_from_worker_threads(on_loop):
    callers = set()

    def square(n):
        callers.add(threading.current_thread())
        return n * n

    async def work():
        if on_loop:
            await running_loop()
        return sorted([r async for r in completed(square, range(20), workers=3)])

    assert run(work()) == [n * n for n in range(20)]
    assert threading.current_thread() not in callers


@pytest.mark.parametrize("on_loop", [False, True], ids=["without-loop", "on-loop"])
def test_completed_raises_what_the_work_raised(on_loop):
    def fail_on_3(n):
        if n == 3:
            raise OSError("disk")
        return n

    async def work():
        if on_loop:
            await running_loop()
        return [r async for r in completed(fail_on_3, range(6), workers=2)]

    with pytest.raises(OSError, match="disk"):
        run(work())


def test_importing_the_module_does_not_import_asyncio():
    code = "import sys, pyx_server.engine.loop as l; print('asyncio' in sys.modules)"
    out = fresh_python(code)
    assert out == "False"


def test_slots_let_waiting_holders_in_by_priority_then_by_arrival():
    order = []

    async def holder(slots, name, priority, gate):
        async with slots.hold(priority):
            order.append(name)
            await gate.wait()

    async def main():
        slots = Slots(1)
        gate = asyncio.Event()
        first = asyncio.create_task(holder(slots, "first", 0, gate))
        await asyncio.sleep(0)  # holds the only slot
        waiting = [asyncio.create_task(holder(slots, n, p, gate)) for n, p in
                   [("small", 1), ("big", 30), ("medium", 5), ("big-later", 30)]]
        await asyncio.sleep(0)
        assert order == ["first"]
        gate.set()
        await asyncio.gather(first, *waiting)

    asyncio.run(main())
    assert order == ["first", "big", "big-later", "medium", "small"]


def test_slots_never_hold_more_than_their_count():
    inside, most = 0, 0

    async def holder(slots, priority):
        nonlocal inside, most
        async with slots.hold(priority):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    async def main():
        slots = Slots(3)
        await asyncio.gather(*(holder(slots, i % 7) for i in range(40)))

    asyncio.run(main())
    assert most == 3
    assert inside == 0


def test_a_cancelled_waiter_does_not_keep_a_slot():
    async def main():
        slots = Slots(1)
        release = asyncio.Event()
        entered = []

        async def holder(name):
            async with slots.hold():
                entered.append(name)
                await release.wait()

        first = asyncio.create_task(holder("first"))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(holder("cancelled"))
        after = asyncio.create_task(holder("after"))
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await asyncio.gather(first, after)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert entered == ["first", "after"]
        async with slots.hold():  # the slot came back
            pass

    asyncio.run(asyncio.wait_for(main(), 5))


def test_a_waiter_cancelled_as_its_turn_comes_passes_the_slot_on():
    async def main():
        slots = Slots(1)
        entered = []
        tasks = {}

        async def first():
            async with slots.hold():
                entered.append("first")
                await asyncio.sleep(0.01)
            # the slot was just handed to "second", whose task has not run since: cancel it now
            tasks["second"].cancel()

        async def holder(name):
            async with slots.hold():
                entered.append(name)

        tasks["first"] = asyncio.create_task(first())
        await asyncio.sleep(0)
        tasks["second"] = asyncio.create_task(holder("second"))
        tasks["third"] = asyncio.create_task(holder("third"))
        await asyncio.gather(tasks["first"], tasks["third"])
        with pytest.raises(asyncio.CancelledError):
            await tasks["second"]
        assert entered == ["first", "third"]

    asyncio.run(asyncio.wait_for(main(), 5))
