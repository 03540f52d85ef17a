"""The HTTP client's settings: limits, retries and timeouts from the environment, TLS trust.

Every number here can be set per run (``PYX_CONCURRENT_DOWNLOADS``, ``PYX_HTTP_RETRIES``,
``PYX_HTTP_TIMEOUT``); a bad value is a ``ConfigError`` naming it, not a crash mid-install.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import httpx

from pyx_server.engine.errors import ConfigError

DEFAULT_CONCURRENCY = 16
#: file bodies streamed at once (each on a thread of its own), at most ``concurrency``. Every
#: 16 KiB piece of a body takes the GIL: on the benchmark machine (2 cores) 16 streams moved
#: 102 MB in 0.70 s with 1.1 s of CPU, 4 streams in 0.38 s with 0.53 s, one in 0.29 s with
#: 0.24 s. Pages, small and many, keep ``concurrency`` connections.
FILE_STREAMS = 4
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_TIMEOUT = 30.0
CHUNK = 64 * 1024
#: downloads report progress in steps of this many bytes (a wheel arrives in 16 KiB pieces)
PROGRESS_STEP = 256 * 1024
#: files of at least this size (when the index tells it) come as parts of about this size…
RANGED_MIN = 8 << 20
#: …in at most this many parts at once
RANGED_PARTS = 4


def number_from_env(env: Mapping[str, str], key: str, default: float, *, integer: bool = False) -> float:
    """A non-negative number from ``env[key]`` (``PYX_HTTP_RETRIES``, ``PYX_HTTP_TIMEOUT``), else ``default``."""
    raw = env.get(key)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"invalid `{key}` value `{raw}`",
            context={"value": raw, "source": key},
            hints=[f"set `{key}` to a {'whole ' if integer else ''}number of {'retries' if integer else 'seconds'}"],
        )
    return value


def concurrency_from_env(env: Mapping[str, str] | None = None) -> int:
    """``PYX_CONCURRENT_DOWNLOADS`` (a positive integer), else the default of 16 connections."""
    env = os.environ if env is None else env
    raw = env.get("PYX_CONCURRENT_DOWNLOADS")
    if not raw:
        return DEFAULT_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"invalid `PYX_CONCURRENT_DOWNLOADS` value `{raw}`",
            context={"value": raw, "source": "PYX_CONCURRENT_DOWNLOADS"},
            hints=["use a positive whole number such as `16`"],
        )
    return value


#: TLS contexts made so far, by what they trust (see ``trust``)
_TRUSTS: dict[tuple[str | None, str | None, str | None], ssl.SSLContext] = {}


def trust(cert: str | None = None, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The TLS context that trusts ``cert`` (pip's ``cert``, ``PIP_CERT``) when configured, else
    httpx's default (which honours ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, then certifi).

    Made once per process and shared by every client: loading a CA bundle costs 20-35 ms, and
    an install opens several clients (pages, then files; forked workers inherit it).
    """
    env = os.environ if env is None else env
    key = (cert, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))
    context = _TRUSTS.get(key)
    if context is None:
        context = _TRUSTS[key] = ssl.create_default_context(cafile=cert) if cert else httpx.create_ssl_context()
    return context


def user_agent() -> str:
    from pyx_server import __version__

    return f"pyx/{__version__}"

