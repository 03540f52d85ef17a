"""The build cache: wheels built from sdists, keyed by the sdist's sha256, and metadata prepared without a build.

Layout, under the cache's ``builds-v1`` bucket::

    wheels/<sdist sha256>/<wheel file name>      every wheel built from that sdist (one per
                                                  distinct tag set: a pure wheel serves every
                                                  interpreter, a cp312 one only cp312)
    metadata/<sdist sha256>/<interpreter key>.metadata
                                                  METADATA from prepare_metadata_for_build_wheel
    trees/<path key>/<wheel file name>            the latest build of a source tree (a tree
                                                  changes without notice, so it is never reused)
    envs/<key>/                                   build environments (``isolation``)

An sdist's content never changes under its hash, so a built wheel or prepared metadata found
here is used without a build. Wheels arrive by ``os.replace`` from a scratch directory on the
same filesystem, and metadata by an atomic write, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from pyx_server.engine.cache import Bucket, Cache, atomic_write_bytes, digest
from pyx_server.engine.errors import InvalidWheel
from pyx_server.engine.envs.interpreter import Interpreter
from pyx_server.engine.install.wheel import parse_wheel_name
from pyx_server.engine.build.isolation import interpreter_identity


def wheels_dir(cache: Cache, sha256: str) -> Path:
    return cache.bucket(Bucket.BUILDS) / "wheels" / sha256


def trees_dir(cache: Cache, tree: Path) -> Path:
    return cache.bucket(Bucket.BUILDS) / "trees" / digest(os.path.realpath(tree))


def best_compatible(directory: Path, interpreter: Interpreter) -> Path | None:
    """The wheel in ``directory`` whose tags suit ``interpreter`` best; None if none fits."""
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".whl")]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for name in names:
        try:
            rank = interpreter.supports(parse_wheel_name(name).tags)
        except InvalidWheel:
            continue
        if rank is not None and (best is None or (rank, name) < best):
            best = (rank, name)
    return directory / best[1] if best else None


def store_wheel(directory: Path, wheel: Path) -> Path:
    """Move the freshly built ``wheel`` into ``directory`` (atomically) and return its new path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / wheel.name
    os.replace(wheel, final)
    return final


def read_wheel_metadata(wheel: Path) -> bytes:
    """The ``METADATA`` of the wheel's one top-level ``.dist-info`` directory (the wheel spec's rule)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            found = [
                member
                for member in zf.namelist()
                if member.count("/") == 1 and member.endswith(".dist-info/METADATA")
            ]
            if len(found) == 1:
                return zf.read(found[0])
    except (OSError, zipfile.BadZipFile) as exc:
        raise InvalidWheel(f"cannot read the built wheel `{wheel.name}`: {exc}", context={"wheel": wheel}) from exc
    raise InvalidWheel(
        f"the built wheel `{wheel.name}` does not have exactly one `.dist-info/METADATA`",
        context={"wheel": wheel},
    )


def _metadata_path(cache: Cache, sha256: str, interpreter: Interpreter) -> Path:
    key = digest(json.dumps(interpreter_identity(interpreter), sort_keys=True))
    return cache.bucket(Bucket.BUILDS) / "metadata" / sha256 / f"{key}.metadata"


def cached_metadata(cache: Cache, sha256: str, interpreter: Interpreter) -> bytes | None:
    """Metadata prepared earlier for this sdist and interpreter, if any."""
    try:
        return _metadata_path(cache, sha256, interpreter).read_bytes()
    except OSError:
        return None


def store_metadata(cache: Cache, sha256: str, interpreter: Interpreter, data: bytes) -> None:
    atomic_write_bytes(_metadata_path(cache, sha256, interpreter), data)
