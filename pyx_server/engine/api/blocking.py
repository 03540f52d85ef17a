"""The blocking entry point for synchronous fronts (the CLI): ``run(add(ctx, …))``.

Fronts import only ``engine.api``; this is how a synchronous one drives a use case's
coroutine (``engine.loop.run``: without an event loop until one is needed).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a use case to its end from synchronous code and return its result."""
    from pyx_server.engine.loop import run as run_engine

    return run_engine(coro)
