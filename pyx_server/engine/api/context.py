"""What every use case is called with: the ``Context`` of one request.

A Jupyter server serves many notebooks from one process, and a language server many files:
nothing a use case needs may come from the process's own ``os.environ`` or working
directory behind the caller's back. The front builds a ``Context`` once per request (the CLI
from its flags and its own environment, a server from its configuration and the request)
and the use cases read everything from it.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyx_server.engine.cache import Cache
from pyx_server.engine.progress import Reporter

if TYPE_CHECKING:
    from pyx_server.engine.config import IndexSettings
    from pyx_server.engine.gpu.detect import Readers

__all__ = ["Context", "IndexRequest"]

_OPERATIONS = itertools.count(1)


@dataclass(frozen=True)
class IndexRequest:
    """The index options a caller asked for (flags, a server's configuration), before pyx's and
    pip's configuration fill in the rest (``Context.index_settings``)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    offline: bool = False
    strategy: str | None = None


@dataclass(frozen=True)
class Context:
    """One request's settings. Frozen: derive a changed copy with ``replace``."""

    cache: Cache
    #: the environment variables as the caller sees them (pyx's, pip's, PATH, VIRTUAL_ENV …)
    env: Mapping[str, str]
    #: the directory relative paths and project discovery start from
    cwd: Path
    index: IndexRequest = IndexRequest()
    #: the Python request (``--python``: a version, a path or a name); None = the default choice
    python: str | None = None
    #: act on a non-virtual Python (``--system``)
    system: bool = False
    #: how GPU detection touches the machine (tests pass fake ``/proc``, ``nvidia-smi`` …)
    gpu: Readers | None = None
    reporter: Reporter = field(default_factory=Reporter)
    #: wait for another operation holding a lock (True), or fail with ``environment-busy``
    wait: bool = True
    #: an id for this request's events and results; set by ``new_operation``
    operation: str = ""

    @classmethod
    def for_process(cls, *, cache: Cache | None = None, env: Mapping[str, str] | None = None,
                    cwd: Path | None = None, **options) -> Context:
        """A context from this process's own environment and directory: for the CLI, which
        is one request in one process. Servers build theirs from the request instead."""
        env = dict(os.environ if env is None else env)
        return cls(cache=cache or Cache(_cache_dir(env)), env=env, cwd=Path(cwd or os.getcwd()), **options)

    def replace(self, **changes) -> Context:
        return dataclasses.replace(self, **changes)

    def new_operation(self, kind: str) -> Context:
        """A copy carrying a fresh operation id (``kind-<n>``) for one use-case call."""
        return dataclasses.replace(self, operation=f"{kind}-{os.getpid()}-{next(_OPERATIONS)}")

    def index_settings(self, *, extra: IndexRequest | None = None) -> IndexSettings:
        """The indexes to use: this request's options (plus ``extra``, the options a
        requirements file gives) over pyx's and pip's configuration, read from ``env``."""
        from pyx_server.engine.config import resolve_index_settings

        request = self.index
        extra_urls = list(request.extra_index_urls)
        links = list(request.find_links)
        index_url, no_index = request.index_url, request.no_index
        if extra is not None:
            index_url = index_url or extra.index_url
            extra_urls += [u for u in extra.extra_index_urls if u not in extra_urls]
            links += [u for u in extra.find_links if u not in links]
            no_index = no_index or extra.no_index
        return resolve_index_settings(index_url=index_url, extra_index_urls=extra_urls, find_links=links,
                                      no_index=no_index, offline=request.offline, strategy=request.strategy,
                                      env=self.env)

    def data_dir(self) -> Path:
        """Where managed environments live (``PYX_DATA_DIR``, else the user data directory)."""
        from pyx_server.engine.envs.store import data_dir

        return data_dir(self.env)

    def path(self, value: str | os.PathLike[str]) -> Path:
        """``value`` made absolute against this request's directory."""
        return Path(os.path.abspath(self.cwd / os.path.expanduser(str(value))))


def _cache_dir(env: Mapping[str, str]) -> Path:
    from pyx_server.engine.cache import default_cache_dir

    return default_cache_dir(env)
