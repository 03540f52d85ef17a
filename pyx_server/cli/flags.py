"""Parsed flags turned into the engine's ``Context``: the one place the CLI reads its own process.

The CLI is one request in one process, so its context comes from this process's environment
variables and directory (``Context.for_process``), with the flags on top: ``--cache-dir``
(as ``PYX_CACHE_DIR``), ``--python`` / ``--system``, the index options, and the reporter
that draws progress.
"""

from __future__ import annotations

import os


def context(args, *, reporter=None, gpu=None, env=None):
    """The ``Context`` for this command's flags (flags a verb does not have keep their defaults)."""
    from pyx_server.engine.api.context import Context, IndexRequest

    env = dict(os.environ if env is None else env)
    if getattr(args, "cache_dir", None):
        env["PYX_CACHE_DIR"] = args.cache_dir
    index = IndexRequest(
        index_url=getattr(args, "index_url", None),
        extra_index_urls=tuple(getattr(args, "extra_index_url", None) or ()),
        find_links=tuple(getattr(args, "find_links", None) or ()),
        no_index=bool(getattr(args, "no_index", False)),
        offline=bool(getattr(args, "offline", False)),
        strategy=getattr(args, "index_strategy", None),
    )
    options = {"python": getattr(args, "python", None), "system": bool(getattr(args, "system", False)), "gpu": gpu}
    if reporter is not None:
        options["reporter"] = reporter
    return Context.for_process(env=env, index=index, **options)
