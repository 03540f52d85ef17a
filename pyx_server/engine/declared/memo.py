"""Answers kept in the cache's ``locks-v1`` bucket: a declaration read before, and the pins a
lock gives an interpreter. Each is keyed by everything it depends on, this code included;
an unreadable entry is a miss (see ``lock.read``)."""

from __future__ import annotations

from pathlib import Path

from pyx_server.engine.cache import Cache


class Memo:
    """One pickled value in the cache; unreadable is a miss, unwritable is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self):
        import pickle

        try:
            with open(self.path, "rb") as f:
                return pickle.loads(f.read())
        except Exception:  # noqa: BLE001 - a corrupt or foreign memo is a miss
            return None

    def store(self, value) -> None:
        import pickle

        from pyx_server.engine.cache import atomic_write_bytes

        try:
            atomic_write_bytes(self.path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            pass  # only a shortcut


def pins_memo(declaration, interpreter, frozen: bool, cache: Cache | None, lock_text: str | None = None) -> Memo | None:
    """Where the pins of this lock for this interpreter are kept, once computed.

    Building an environment from a lock spent 40 ms choosing each package's wheel among
    every platform's (and importing the lock model to do it) before linking a file. The
    answer is a function of the lock's text, the declaration (staleness), the interpreter's
    markers and tags and this code, so it is kept under a key made of all of them.
    ``lock_text``: the lock's text when it is not the one on disk.
    """
    if cache is None:
        return None
    import hashlib
    import json

    text = lock_text
    if text is None and declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import lock_text_in, read_lock_text

        try:
            text = lock_text_in(declaration.text, declaration.path) if declaration.text is not None \
                else read_lock_text(declaration.path)
        except (OSError, ValueError):
            text = None
    if text is None:
        try:
            text = declaration.lock_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    key = json.dumps({
        "lock": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lock_path": str(declaration.lock_path),
        "requirements": sorted(str(r.requirement) for r in declaration.requirements),
        "requires_python": declaration.requires_python,
        "frozen": frozen,
        "markers": interpreter.markers,
        "tags": hashlib.sha256("\n".join(interpreter.tags).encode()).hexdigest(),
        "code": code_digest(),
    }, sort_keys=True)
    from pyx_server.engine.cache import Bucket

    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return Memo(cache.root / Bucket.LOCKS.value / f"pins-{name}.pickle")


def declaration_memo(path: Path, cache: Cache) -> Memo | None:
    """Where the declaration of the script or notebook ``path`` is kept, keyed by its size and
    mtime and by the code that reads it; None when it cannot be looked at."""
    import hashlib

    try:
        stat = path.stat()
    except OSError:
        return None
    from pyx_server.engine.cache import Bucket

    key = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{code_digest()}"
    name = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Memo(cache.root / Bucket.LOCKS.value / f"declaration-{name}.pickle")


_CODE: list[str] = []


def code_digest() -> str:
    """A digest of the modules whose objects a memo holds or whose choices it records (pins:
    the lock's selection; declarations: the inline-metadata reader)."""
    if not _CODE:
        import hashlib

        from pyx_server.engine import requirements

        digest = hashlib.sha256()
        engine = Path(__file__).parent.parent
        declared = engine / "declared"
        lock_dir = engine / "lock"
        inline = [engine / "inline" / f"{name}.py" for name in ("block", "document", "files", "model", "notebook")]
        for module_file in (declared / "model.py", declared / "locking.py", __file__, requirements.__file__,
                            engine / "index" / "distfile.py", lock_dir / "select.py", lock_dir / "model.py", engine / "uvindex.py",
                            *inline):
            with open(module_file, "rb") as f:
                digest.update(f.read())
        _CODE.append(digest.hexdigest()[:16])
    return _CODE[0]
