"""What goes wrong over HTTP, pure: which failures are retried, the errors raised, hash checks.

Retries: connection errors, dropped connections, timeouts, 429 and 5xx are retried with
exponential backoff (``backoff * 2**attempt``), each retry reported as a ``Retrying`` event;
after the last one ``IndexUnavailable`` (pages) or ``DownloadError`` (files) is raised. Every
URL handed to these errors is already redacted (``redact_url``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

from pyx_server.engine.errors import DownloadError, HashMismatch, IndexUnavailable, OfflineCacheMiss

#: hash algorithms a download can be verified against, strongest preference first
VERIFIABLE = ("sha256", "sha384", "sha512", "sha224", "sha1", "md5")

#: what a retry may cure: the network, not the request
RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def retryable_status(status: int) -> bool:
    return status == 429 or (500 <= status < 600 and status != 501)


def is_certificate_error(exc: BaseException) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def unavailable(shown: str, reason: str, *, attempts: int = 1, certificate: bool = False) -> IndexUnavailable:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    hints = ["check the network connection and the index URL"]
    if certificate:
        hints = ["point `PIP_CERT` / `SSL_CERT_FILE` at the CA bundle that signs this server's certificate"]
    hints.append("with `--offline`, pyx uses only what is already cached")
    return IndexUnavailable(
        f"could not fetch `{shown}`{tries}: {reason}",
        context={"url": shown, "reason": reason},
        hints=hints,
    )


def download_error(filename: str, shown: str, reason: str, *, attempts: int = 1) -> DownloadError:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return DownloadError(
        f"could not download `{filename}`{tries}: {reason}",
        context={"url": shown, "reason": reason},
        hints=["check the network connection; running the command again resumes from the cache"],
    )


def offline_miss(shown: str, subject: str | None) -> OfflineCacheMiss:
    what = f"{subject} (`{shown}`)" if subject else f"`{shown}`"
    return OfflineCacheMiss(
        f"{what} is not in the cache, and offline mode forbids fetching it",
        context={"url": shown},
        hints=["run the same command once without `--offline` to fill the cache"],
    )


def content_range_is(response: httpx.Response, start: int, end: int, size: int) -> bool:
    """Whether a 206 answer's ``Content-Range`` is exactly the range asked, of a file of ``size``."""
    return response.headers.get("content-range", "").strip() == f"bytes {start}-{end - 1}/{size}"


def hashers(expected: Mapping[str, str] | None) -> dict[str, Any]:
    algorithms = {"sha256"} | {a for a in (expected or {}) if a in VERIFIABLE}
    return {a: hashlib.new(a) for a in algorithms}


def verify(filename: str, shown: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> None:
    """Every expected hash we can compute must match (sha256 first in the message)."""
    for algorithm in VERIFIABLE:
        want = expected.get(algorithm)
        if want is None or algorithm not in actual:
            continue
        if actual[algorithm] != want.lower():
            raise HashMismatch(
                f"hash mismatch for `{filename}`: expected {algorithm} `{want.lower()}`, "
                f"got `{actual[algorithm]}`",
                context={
                    "file": filename,
                    "url": shown,
                    "algorithm": algorithm,
                    "expected": want.lower(),
                    "actual": actual[algorithm],
                },
                hints=[
                    "the file changed on the server or was corrupted in transit; "
                    "if you pinned the hash yourself, check it",
                ],
            )

