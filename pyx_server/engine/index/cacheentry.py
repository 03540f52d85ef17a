"""The HTTP cache's entries on disk: a body and its policy, read as a pair, written atomically.

An entry is ``<entry>.body`` and ``<entry>.json``; the policy holds the body's sha256, so a
pair torn by two writers (or a crash between the two renames) reads as a miss, never as a
wrong body. The rules deciding when an entry may be used live in ``httpcache``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, replace
from pathlib import Path

from pyx_server.engine.cache import atomic_write_bytes, atomic_write_json, read_json
from pyx_server.engine.index.httpcache import CachePolicy, HttpResponse


def read_policy(entry: Path) -> CachePolicy | None:
    data = read_json(entry.with_name(entry.name + ".json"))
    if not isinstance(data, dict):
        return None
    try:
        return CachePolicy(**data)
    except TypeError:
        return None


def read_entry(entry: Path) -> tuple[CachePolicy, HttpResponse] | None:
    data = read_json(entry.with_name(entry.name + ".json"))
    if not isinstance(data, dict):
        return None
    try:
        policy = CachePolicy(**data)
        body = entry.with_name(entry.name + ".body").read_bytes()
    except (TypeError, OSError):
        return None
    if hashlib.sha256(body).hexdigest() != policy.body_sha256:
        return None  # body and policy from different writes: treat as a miss
    response = HttpResponse(
        url=policy.final_url,
        status=policy.status,
        content_type=policy.content_type,
        content=body,
        from_cache=True,
        sha256=policy.body_sha256,
    )
    return policy, response


def store_entry(entry: Path, policy: CachePolicy, content: bytes, previous: CachePolicy | None) -> None:
    """Store a fetched response, leaving alone the files it would not change.

    An index whose pages carry no validator (no ETag, no Last-Modified) is refetched in full on
    every run, and nearly always answers with the same bytes: comparing them to the stored
    body costs far less than replacing it (each replace also frees the old file's blocks,
    which a filesystem mounted with ``discard`` makes slow). The policy is rewritten only when
    it changed; its fetch time matters only with ``max-age``.
    """
    body = entry.with_name(entry.name + ".body")
    same_body = previous is not None and previous.body_sha256 == policy.body_sha256 and _holds(body, content)
    if not same_body:
        atomic_write_bytes(body, content)
    unchanged = same_body and previous is not None and policy.max_age is None and replace(previous, fetched=policy.fetched) == policy
    if not unchanged:
        atomic_write_json(entry.with_name(entry.name + ".json"), asdict(policy))


def _holds(path: Path, content: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``content``."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != len(content):
                return False
            return f.read() == content
    except OSError:
        return False


def remove_entry(entry: Path) -> None:
    for suffix in (".json", ".body"):
        entry.with_name(entry.name + suffix).unlink(missing_ok=True)


def write_policy(entry: Path, policy: CachePolicy) -> None:
    """Replace the policy of ``entry`` alone (a 304 keeps the body)."""
    atomic_write_json(entry.with_name(entry.name + ".json"), asdict(policy))
