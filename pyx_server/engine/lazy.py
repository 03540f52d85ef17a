"""Package namespaces whose names are loaded on first use, from a table of where each is defined.

A package that gathers the public names of its modules (``engine.api``, ``engine.declared``,
``engine.project``) would import all of them, and build all their dataclasses, the moment
one name is asked for; a warm CLI command needs one or two. ``exports`` gives such a package
a module-level ``__getattr__`` that imports only the module defining the name asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def exports(package: str, table: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], Callable[[str], Any]]:
    """``(where, __getattr__)`` for ``package`` from ``table`` (module → the names it defines;
    a module without a dot is relative to the package). ``where`` maps each name to its module."""
    where = {name: module if "." in module else f"{package}.{module}"
             for module, names in table.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    return where, __getattr__
