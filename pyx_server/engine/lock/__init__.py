"""PEP 751 lock files (``pylock.toml``, ``pylock.<name>.toml``): typed model, read, write, select.

Public API::

    read_lock(path) -> Lock                      loads_lock(text, source=...) -> Lock
    write_lock(lock, path) -> Path               dumps_lock(lock) -> str
    lock_path_for(target) -> Path                is_lock_file_name(filename) -> bool
    lock_from_resolution(result, *, requires_python, requirements, ...) -> Lock
    select_for_environment(lock, marker_environment, tag_priority, ...) -> [(LockedPackage, LockedFile | None)]
    is_stale(lock, requirements, requires_python, *, marker_environment=None) -> str | None
    to_dist_file(package, file, lock_dir) -> simple.DistFile

Errors are ``LockFileError`` (code ``invalid-lock``: its location holds the file and line, its
context the key of the problem)
and ``LockNotApplicable`` (``lock-not-applicable``: a valid lock that does not cover the
target). Everything is pure apart from ``read_lock``/``write_lock``.

One job per module:

* ``model``   the frozen dataclasses, kept in canonical order.
* ``read``    TOML → validated ``Lock`` (PEP 751 rules), errors located by line.
* ``locate``  the line of a key path in the text, for errors and warnings.
* ``write``   ``Lock`` → deterministic TOML with tomlkit (uv's inline file tables), atomic.
* ``naming``  PEP 751 file names: ``pylock.toml``, ``pylock.<name>.toml`` for a script/notebook.
* ``build``   a resolution → ``Lock``.
* ``select``  what to install for a target; whether the lock is stale.
"""

import importlib
from typing import TYPE_CHECKING, Any

# Names are loaded from their module on first use (PEP 562): ``pyx run`` of a script with no
# lock only needs ``lock_path_for``, and writing locks pulls in tomlkit.
_WHERE = {
    "lock_from_resolution": "build",
    "requirement_texts": "build",
    "LOCK_VERSION": "model",
    "DirectorySource": "model",
    "Lock": "model",
    "LockedDependency": "model",
    "LockedFile": "model",
    "LockedPackage": "model",
    "VcsSource": "model",
    "LOCK_FILE_NAME": "naming",
    "is_lock_file_name": "naming",
    "lock_name": "naming",
    "lock_name_for": "naming",
    "lock_path_for": "naming",
    "loads_lock": "read",
    "read_lock": "read",
    "best_wheel": "select",
    "is_stale": "select",
    "select_for_environment": "select",
    "to_dist_file": "select",
    "dumps_lock": "write",
    "marker_text": "write",
    "write_lock": "write",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from pyx_server.engine.lock.build import lock_from_resolution, requirement_texts
    from pyx_server.engine.lock.model import (
        LOCK_VERSION,
        DirectorySource,
        Lock,
        LockedDependency,
        LockedFile,
        LockedPackage,
        VcsSource,
    )
    from pyx_server.engine.lock.naming import LOCK_FILE_NAME, is_lock_file_name, lock_name, lock_name_for, lock_path_for
    from pyx_server.engine.lock.read import loads_lock, read_lock
    from pyx_server.engine.lock.select import best_wheel, is_stale, select_for_environment, to_dist_file
    from pyx_server.engine.lock.write import dumps_lock, marker_text, write_lock

__all__ = [
    "LOCK_FILE_NAME",
    "LOCK_VERSION",
    "DirectorySource",
    "Lock",
    "LockedDependency",
    "LockedFile",
    "LockedPackage",
    "VcsSource",
    "best_wheel",
    "dumps_lock",
    "is_lock_file_name",
    "is_stale",
    "loads_lock",
    "lock_from_resolution",
    "lock_name",
    "lock_name_for",
    "lock_path_for",
    "marker_text",
    "read_lock",
    "requirement_texts",
    "select_for_environment",
    "to_dist_file",
    "write_lock",
]
