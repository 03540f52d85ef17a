"""The blocking entry point for synchronous fronts: ``run(pip_install(ctx, ...))``.

The use cases are coroutines. A synchronous front (the CLI, a cell of the ``%pyx`` magic)
runs one to its end with ``run``; it is ``engine.loop.run``, which starts an event loop only
once the use case needs one (a warm ``pip sync`` never does), re-exported here so that a
front imports nothing from the engine but ``engine.api``.
"""

from __future__ import annotations

from pyx_server.engine.loop import run

__all__ = ["run"]
