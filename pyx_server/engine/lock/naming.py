"""Where a lock lives: ``pylock.toml`` for a project, ``pylock.<name>.toml`` beside a script or notebook.

PEP 751 names a lock ``pylock.toml`` or ``pylock.<name>.toml`` where ``<name>`` matches
``[^.]+`` (any characters but a dot, at least one), the prefix and suffix lowercase. A script
``analysis.py`` or a notebook ``analysis.ipynb`` gets ``pylock.analysis.toml`` in the same
directory. A name that would break that rule is mended rather than refused: every dot (the
only character the rule forbids) becomes ``-``, so ``v1.2-report.py`` locks to
``pylock.v1-2-report.toml``; the case of the name is kept. Two files whose names differ only
by that mending (``a.b.py`` and ``a-b.py``) would share a lock name: this module only computes
names, so a verb that writes a lock is the one to notice such a clash.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["LOCK_FILE_NAME", "is_lock_file_name", "lock_name", "lock_path_for", "lock_name_for"]

LOCK_FILE_NAME = "pylock.toml"
_NAMED = re.compile(r"^pylock\.([^.]+)\.toml$")
#: suffixes dropped from a script's or notebook's file name to form the lock's name
_SCRIPT_SUFFIXES = (".py", ".pyw", ".ipynb")


def is_lock_file_name(filename: str) -> bool:
    """Whether ``filename`` is a PEP 751 lock file name (``pylock.toml`` or ``pylock.<name>.toml``)."""
    return filename == LOCK_FILE_NAME or _NAMED.match(filename) is not None


def lock_name(filename: str) -> str | None:
    """The ``<name>`` of ``pylock.<name>.toml``; None for ``pylock.toml`` or another file."""
    match = _NAMED.match(filename)
    return match.group(1) if match else None


def lock_name_for(filename: str) -> str:
    """The PEP 751 ``<name>`` for a script or notebook file name: suffix dropped, dots → ``-``."""
    stem = filename
    for suffix in _SCRIPT_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    name = stem.replace(".", "-")
    return name or "-"


def lock_path_for(target: Path | str) -> Path:
    """The lock file for ``target``: a project directory (or its ``pyproject.toml``) gets
    ``pylock.toml`` inside it; a script or notebook gets ``pylock.<name>.toml`` beside it.

    A path that does not exist yet counts as a script when it ends in ``.py``/``.pyw``/
    ``.ipynb``, else as a directory.
    """
    target = Path(target)
    if target.is_dir():
        return target / LOCK_FILE_NAME
    if target.name == "pyproject.toml":
        return target.parent / LOCK_FILE_NAME
    if not target.exists() and not target.name.lower().endswith(_SCRIPT_SUFFIXES):
        return target / LOCK_FILE_NAME
    return target.parent / f"pylock.{lock_name_for(target.name)}.toml"
