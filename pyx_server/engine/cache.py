"""The global cache: one directory of versioned buckets shared by every environment.

Layout (bump a bucket's suffix whenever its format changes, as uv's ``CacheBucket`` does)::

    <root>/
      simple-v2/<index-key>/<name>.{body,json}   index pages and their HTTP cache policy
      simple-v2/<index-key>/<name>.parsed        the page parsed, reused while the body is the same
      metadata-v1/<index-key>/<name>/<file>.metadata   PEP 658 metadata files
      dependencies-v1/<index-key>/<name>/<file>.json   what resolving reads of one (by its sha256)
      wheels-v1/<source-key>/<name>/<file>.json  pointer: which archive holds this wheel
      archive-v1/<sha256>/                       a wheel unpacked once, linked into envs
      contents-v1/<sha256>.json                  what that unpacked wheel holds (``contents``)
      locks-v1/<sha256>-<code>.pickle            a lock file already parsed (``lock.read``)
      environments-v1/<key>.lock                 the lock of an environment that is not a venv
      interpreter-v1/<key>.json                  facts about an interpreter (path + mtime)
      .tmp/                                      work in progress; renamed into place
      .lock                                      held shared by operations using the cache

Every write is atomic: files go through a temporary name and ``os.replace``; archives are
unpacked into ``.tmp`` and renamed into ``archive-v1`` in one step, so a reader sees either
nothing or a complete entry, and a process killed mid-way leaves only ``.tmp`` debris that
``prune`` removes. Creation of an entry is guarded by a lock (``engine.locks``), so two
processes installing the same wheel at once unpack it once and neither sees a partial copy.

Operations that use the cache hold ``.lock`` shared (``in_use``); ``clean`` and ``prune`` hold
it exclusively, so they never pull an entry, a download or an unpacking from under a running
install: they wait for it (saying so), or fail with ``environment-busy`` when told not to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pyx_server.engine.errors import CacheError


class Bucket(str, Enum):
    SIMPLE = "simple-v2"
    METADATA = "metadata-v1"
    DEPENDENCIES = "dependencies-v1"
    WHEELS = "wheels-v1"
    ARCHIVE = "archive-v1"
    INTERPRETER = "interpreter-v1"
    BUILDS = "builds-v1"
    CONTENTS = "contents-v1"
    LOCKS = "locks-v1"
    ENVIRONMENTS = "environments-v1"


def default_cache_dir(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``PYX_CACHE_DIR`` if set, else the platform's user cache directory for pyx."""
    env = os.environ if env is None else env
    if env.get("PYX_CACHE_DIR"):
        return Path(env["PYX_CACHE_DIR"]).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("pyx", appauthor=False))


def digest(text: str, length: int = 16) -> str:
    """A short, filesystem-safe key for a URL or path (never the URL itself: it may hold secrets)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # here: a warm install writes nothing to the cache

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=None, sort_keys=True).encode())


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable (a corrupt entry is a miss)."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class WheelPointer:
    """What ``wheels-v1`` records for one wheel: the archive holding it, and where it came from."""

    filename: str
    sha256: str
    url: str  # redacted
    size: int | None = None
    #: for local files: the mtime the file had, so a changed file is noticed
    mtime_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Cache:
    """The global cache rooted at ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).absolute() if root is not None else default_cache_dir()

    # -- layout -----------------------------------------------------------------------

    def bucket(self, bucket: Bucket) -> Path:
        path = self.root / bucket.value
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tmp(self) -> Path:
        path = self.root / ".tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def lock_file(self) -> Path:
        """Held shared by every operation using the cache, exclusively by ``clean`` and ``prune``."""
        return self.root / ".lock"

    def in_use(self, *, reporter=None, wait: bool = True):
        """``async with cache.in_use():`` the cache's entries stay while the block runs (a
        shared hold of ``lock_file``: ``clean`` and ``prune`` wait for it to end)."""
        from pyx_server.engine import locks

        return locks.hold(self.lock_file, what=f"the cache `{self.root}`", reporter=reporter, wait=wait, shared=True)

    def _exclusive(self, reporter, wait: bool):
        from pyx_server.engine import locks

        return locks.hold_sync(self.lock_file, what=f"the cache `{self.root}`", reporter=reporter, wait=wait)

    @contextlib.contextmanager
    def temp_dir(self, prefix: str = "work-") -> Iterator[Path]:
        """A scratch directory on the cache's filesystem (so renames into buckets are atomic)."""
        import tempfile

        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    # -- unpacked wheels ----------------------------------------------------------------

    def archive_path(self, sha256: str) -> Path:
        return self.root / Bucket.ARCHIVE.value / sha256

    def archive(self, sha256: str) -> Path | None:
        """The unpacked wheel with this hash, if the cache has it (complete by construction)."""
        path = self.archive_path(sha256)
        return path if path.is_dir() else None

    def store_archive(self, sha256: str, populate: Callable[[Path], None]) -> Path:
        """Create ``archive-v1/<sha256>`` by calling ``populate(tmpdir)``, once across processes.

        If another process created it meanwhile, its copy is kept and ``populate`` is not
        called. A failure in ``populate`` leaves no entry behind.
        """
        final = self.archive_path(sha256)
        if final.is_dir():
            return final
        self.bucket(Bucket.ARCHIVE)
        from pyx_server.engine import locks

        with locks.hold_sync(f"{final}.lock", what=f"the cache entry `{sha256[:12]}…`"):
            if final.is_dir():
                return final
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix=f"archive-{sha256[:12]}-", dir=self.tmp))
            try:
                populate(tmp)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    # -- pointers -------------------------------------------------------------------------

    def pointer_path(self, source_key: str, name: str, filename: str) -> Path:
        return self.root / Bucket.WHEELS.value / source_key / name / f"{filename}.json"

    def read_pointer(self, source_key: str, name: str, filename: str) -> WheelPointer | None:
        data = read_json(self.pointer_path(source_key, name, filename))
        if not isinstance(data, dict):
            return None
        try:
            return WheelPointer(**data)
        except TypeError:
            return None

    def write_pointer(self, source_key: str, name: str, pointer: WheelPointer) -> None:
        atomic_write_json(
            self.pointer_path(source_key, name, pointer.filename), pointer.__dict__
        )

    # -- maintenance ----------------------------------------------------------------------

    def clean(self, package: str | None = None, *, reporter=None, wait: bool = True) -> int:
        """Remove everything (``package`` None) or every entry of one package; returns entries removed.

        Waits for the operations using the cache to end (``in_use``), or with ``wait=False``
        raises ``Busy`` while one runs.
        """
        if package is None:
            if not self.root.exists():
                return 0
            with self._exclusive(reporter, wait):
                # ``.lock`` goes too, held: a waiter that opened it finds it gone once it has
                # the lock and takes a new one (``engine.locks``)
                count = sum(1 for _ in self.root.rglob("*") if _.is_file() and _ != self.lock_file)
                _rmtree(self.root)
                return count
        with self._exclusive(reporter, wait):
            return self._clean_package(package)

    def _clean_package(self, package: str) -> int:
        from packaging.utils import canonicalize_name

        name = canonicalize_name(package)
        removed = 0
        for bucket in (Bucket.SIMPLE, Bucket.METADATA, Bucket.DEPENDENCIES, Bucket.WHEELS):
            base = self.root / bucket.value
            if not base.is_dir():
                continue
            for source in base.iterdir():
                for entry in list(source.glob(f"{name}")) + list(source.glob(f"{name}.*")):
                    if bucket is Bucket.WHEELS and entry.is_dir():
                        for pointer in entry.glob("*.json"):
                            data = read_json(pointer) or {}
                            sha = data.get("sha256")
                            if sha and self.archive(sha):
                                _rmtree(self.archive_path(sha))
                                removed += 1
                    removed += 1
                    _rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
        return removed

    def referenced_archives(self) -> set[str]:
        base = self.root / Bucket.WHEELS.value
        refs: set[str] = set()
        if base.is_dir():
            for pointer in base.glob("*/*/*.json"):
                data = read_json(pointer)
                if isinstance(data, dict) and isinstance(data.get("sha256"), str):
                    refs.add(data["sha256"])
        return refs

    def prune(self, *, reporter=None, wait: bool = True) -> list[Path]:
        """Remove unpacked wheels no pointer refers to, and leftovers of interrupted work.

        Work in flight is not a leftover: prune waits for the operations using the cache to
        end (``in_use``: their ``.tmp`` work, the archives they unpack and link), or with
        ``wait=False`` raises ``Busy`` while one runs.
        """
        if not self.root.exists():
            return []
        with self._exclusive(reporter, wait):
            return self._prune()

    def _prune(self) -> list[Path]:
        removed: list[Path] = []
        refs = self.referenced_archives()
        archives = self.root / Bucket.ARCHIVE.value
        if archives.is_dir():
            for entry in archives.iterdir():
                if entry.name.endswith(".lock"):
                    if not (archives / entry.name[: -len(".lock")]).exists():
                        entry.unlink(missing_ok=True)
                    continue
                if entry.name not in refs:
                    _rmtree(entry)
                    removed.append(entry)
        contents = self.root / Bucket.CONTENTS.value
        if contents.is_dir():
            for entry in contents.iterdir():
                if not (archives / entry.name.removesuffix(".json")).is_dir():
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
        # parsed locks are made again from their text on demand
        locks = self.root / Bucket.LOCKS.value
        if locks.is_dir():
            for entry in locks.iterdir():
                entry.unlink(missing_ok=True)
                removed.append(entry)
        # build environments, source-tree builds and downloaded sdists are made again on
        # demand; the wheels built from sdists (and their metadata) are what is worth keeping
        builds = self.root / Bucket.BUILDS.value
        for transient in ("envs", "trees", "sdists"):
            path = builds / transient
            if path.is_dir():
                for entry in path.iterdir():
                    _rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
                    removed.append(entry)
        tmp = self.root / ".tmp"
        if tmp.is_dir():
            for entry in tmp.iterdir():
                _rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed


def _rmtree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CacheError(f"could not remove `{path}`: {exc.strerror}", context={"path": path}) from exc
