"""A declaration's lock: read (beside it, or inside the notebook), resolved as data, turned into
file edits, written, and the pins it gives an interpreter.

``--locked`` refuses a stale lock, ``--frozen`` takes it as it is, otherwise a stale lock is
rewritten. ``resolve_lock`` and ``lock_edits`` never write: a use case resolves against the
declaration text it is about to write and saves the declaration and its lock together.
"""

from __future__ import annotations

from pyx_server.engine.cache import Cache
from pyx_server.engine.config import IndexSettings
from pyx_server.engine.declared.model import Declaration, check_python, index_for
from pyx_server.engine.errors import Hint, Location, LockFileError, PyxError, StaleLock
from pyx_server.engine.progress import Reporter
from pyx_server.engine.requirements import RequirementSpec


class NeedsRelock(Exception):
    """``pins(relock=False)`` found no lock, or a stale one: answering means writing the lock,
    which the caller does under the declaration's lock (``api``: read-only work goes without)."""


def _notebook_lock_text(declaration: Declaration) -> str | None:
    from pyx_server.engine.inline.nbmeta import lock_text_in, read_lock_text

    if declaration.text is not None:
        return lock_text_in(declaration.text, declaration.path)
    return read_lock_text(declaration.path)


def read_current_lock(declaration: Declaration, cache: Cache | None = None):
    """The declaration's lock: inside the notebook (``metadata.pyx.pylock``), else the file beside it.

    With ``cache``, a lock read before is not parsed again.
    """
    from pyx_server.engine.lock import loads_lock, read_lock

    if declaration.kind == "notebook":
        text = _notebook_lock_text(declaration)
        if text is not None:
            try:
                return loads_lock(text, source=str(declaration.path), cache=cache)
            except LockFileError as error:
                # the lock's lines are not the notebook's: point at the notebook, name the key
                error.message = f"the lock kept in `metadata.pyx.pylock`: {error.message}"
                error.args = (error.message,)
                error.location = Location(str(declaration.path))
                raise
    if declaration.lock_path.is_file():
        return read_lock(declaration.lock_path, cache=cache)
    return None


def has_lock(declaration: Declaration) -> bool:
    if declaration.lock_path.is_file():
        return True
    if declaration.kind == "notebook":
        return _notebook_lock_text(declaration) is not None
    return False


def lock_edits(declaration: Declaration, locked) -> tuple[list, str]:
    """The file edits that store ``locked`` for ``declaration``, and where it goes (for messages).

    A notebook keeps its lock in its own metadata (the notebook alone then reproduces its
    environment; the edit starts from ``declaration.text`` when the declaration was read from
    text); when its JSON layout cannot be rewritten faithfully, the lock goes beside it.
    Scripts and projects get ``pylock.<name>.toml`` / ``pylock.toml``.
    """
    from pyx_server.engine.edits import FileEdit
    from pyx_server.engine.lock import dumps_lock

    text = dumps_lock(locked)
    if declaration.kind == "notebook":
        from pyx_server.engine.inline.nbmeta import with_lock_text

        original = declaration.text if declaration.text is not None else declaration.path.read_text(encoding="utf-8")
        updated = with_lock_text(original, text)
        if updated is not None:
            return [FileEdit.of_text(declaration.path, updated, original, role="lock")], \
                f"{declaration.path.name} (metadata.pyx.pylock)"
    try:
        old = declaration.lock_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    except (OSError, UnicodeDecodeError):
        old = ""
    return [FileEdit.of_text(declaration.lock_path, text, old, role="lock")], str(declaration.lock_path)


def write_current_lock(declaration: Declaration, locked) -> str:
    """Store the lock where it reproduces best (see ``lock_edits``); returns where."""
    from pyx_server.engine.edits import apply_edits

    edits, where = lock_edits(declaration, locked)
    apply_edits(edits)
    forget_sidecar(declaration, edits)
    return where


def forget_sidecar(declaration: Declaration, edits) -> None:
    """A notebook whose lock these edits put inside it drops the ``pylock.<name>.toml`` beside
    it: one lock, in one place. (A notebook in a layout pyx cannot rewrite keeps its lock
    beside it: then an edit writes that file, and it stays.)"""
    if declaration.kind != "notebook":
        return
    from pyx_server.engine.inline import nbmeta

    nbmeta._LAST.clear()  # a rewrite may keep the size, and a coarse clock the mtime
    if any(e.path == declaration.lock_path for e in edits):
        return
    inside = [e for e in edits if e.path == declaration.path and e.role == "lock"]
    if not inside:
        inside = [e for e in edits if e.path == declaration.path
                  and nbmeta.lock_text_in(e.new_text, declaration.path) is not None]
    if inside and declaration.lock_path.is_file():
        declaration.lock_path.unlink()


async def resolve_lock(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    reporter: Reporter | None = None,
    upgrade: bool = False,
):
    """The lock ``declaration`` resolves to (nothing written), preferring the versions of its
    current lock unless ``upgrade``."""
    from pyx_server.engine.index.resolve import ResolveOptions, resolve_requirements
    from pyx_server.engine.install.operations import build_support
    from pyx_server.engine.lock import lock_from_resolution

    check_python(declaration, interpreter)
    preferences = {}
    if not upgrade:
        try:
            current = read_current_lock(declaration)
        except PyxError:
            current = None
        if current is not None:
            preferences = {p.name: p.version for p in current.packages if p.version is not None}
    settings = index_for(declaration, index)
    build = build_support(settings, cache, interpreter, reporter)
    result = await resolve_requirements(
        list(declaration.requirements),
        interpreter,
        index=settings,
        cache=cache,
        options=ResolveOptions(upgrade=upgrade),
        preferences=preferences,
        reporter=reporter,
        sdist_metadata=build.metadata,
    )
    return lock_from_resolution(
        result,
        requires_python=declaration.requires_python,
        requirements=declaration.requirements,
        lock_dir=declaration.lock_path.parent,
        editable=[r.name for r in declaration.requirements if r.editable],
    )


async def lock(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    reporter: Reporter | None = None,
    upgrade: bool = False,
):
    """Resolve the declaration and write its lock; returns ``(Lock, where)``."""
    locked = await resolve_lock(declaration, interpreter, index=index, cache=cache, reporter=reporter, upgrade=upgrade)
    from pyx_server.engine.loop import to_thread

    where = await to_thread(write_current_lock, declaration, locked)
    if reporter is not None:
        from pyx_server.engine.progress import LockWritten

        reporter.report(LockWritten(str(declaration.path if "(" in where else where), len(locked.packages)))
    return locked, where


def pins_from_lock(declaration: Declaration, current, interpreter) -> tuple[list[RequirementSpec], dict]:
    """The exact requirements (and their files) ``current`` gives for ``interpreter``."""
    from packaging.requirements import Requirement

    from pyx_server.engine.lock import select_for_environment, to_dist_file

    path = declaration.lock_path
    specs: list[RequirementSpec] = []
    files: dict = {}
    for package, file in select_for_environment(current, interpreter.markers, interpreter.tag_priority()):
        hashes = {algo: (digest,) for algo, digest in (file.hashes.items() if file else ())}
        specs.append(RequirementSpec(Requirement(f"{package.name}=={package.version}"), f"{path.name}", hashes))
        if file is not None:
            files[package.name] = to_dist_file(package, file, path.parent)
    return specs, files


def stale_reason(declaration: Declaration, current, interpreter=None) -> str | None:
    """Why ``current`` no longer fits the declaration (None: it does)."""
    from pyx_server.engine.lock import is_stale

    return is_stale(current, declaration.requirements, declaration.requires_python,
                    marker_environment=interpreter.markers if interpreter is not None else None)


async def pins(
    declaration: Declaration,
    interpreter,
    *,
    index: IndexSettings,
    cache: Cache,
    locked: bool = False,
    frozen: bool = False,
    reporter: Reporter | None = None,
    relock_missing: bool = True,
    relock: bool = True,
) -> tuple[list[RequirementSpec], dict] | None:
    """The exact requirements (and their files) the lock gives for ``interpreter``.

    None when there is no lock and ``relock_missing`` is false. A stale lock is an error with
    ``locked``, used as is with ``frozen``, and rewritten otherwise — unless ``relock`` is
    false: then ``NeedsRelock`` says a write is needed, and nothing is written.
    """
    from pyx_server.engine.declared.memo import pins_memo

    memo = pins_memo(declaration, interpreter, frozen, cache)
    if memo is not None:
        found = memo.load()
        if found is not None:
            return found
    current = read_current_lock(declaration, cache)
    if current is None:
        if locked or frozen:
            raise StaleLock(
                f"{declaration.label} has no lock, and `--{'locked' if locked else 'frozen'}` needs one",
                hints=[Hint("create it with `pyx lock`", "lock")],
            )
        if not relock_missing:
            return None
        if not relock:
            raise NeedsRelock(str(declaration.path))
        current, _ = await lock(declaration, interpreter, index=index, cache=cache, reporter=reporter)
    elif not frozen:
        reason = stale_reason(declaration, current, interpreter)
        if reason is not None:
            if locked:
                raise StaleLock(
                    f"the lock of {declaration.label} is out of date: {reason}",
                    hints=[Hint("run `pyx lock` to update it, or drop `--locked`", "lock")],
                )
            if not relock:
                raise NeedsRelock(str(declaration.path))
            current, _ = await lock(declaration, interpreter, index=index, cache=cache, reporter=reporter)
    found = pins_from_lock(declaration, current, interpreter)
    if memo is not None:
        memo = pins_memo(declaration, interpreter, frozen, cache)  # the lock may have been rewritten
        if memo is not None:
            memo.store(found)
    return found


__all__ = ["NeedsRelock", "has_lock", "lock", "lock_edits", "pins", "pins_from_lock", "read_current_lock", "resolve_lock",
           "stale_reason", "write_current_lock"]

