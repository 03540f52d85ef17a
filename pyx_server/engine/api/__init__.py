"""The use cases every front calls, once: add, remove, lock, sync, environment_for, status,
pip_*, gpu_*.

Each is an async function taking a ``Context`` (``api.context``) and returning a frozen
dataclass with ``to_dict()``; errors are ``engine.errors`` values and progress goes to the
context's reporter. Fronts import from here (``from pyx_server.engine.api import add``) and
render; they hold no logic of their own. Names are looked up lazily, so importing this
package costs nothing on the CLI's fast path.
"""

from __future__ import annotations

import importlib

#: the submodules that define use cases and result types, searched in this order
_SUBMODULES = ("context", "declared", "status", "environments", "pip", "installed", "compile", "gpu",
               "maintenance", "blocking", "results")


def __getattr__(name: str):
    for sub in _SUBMODULES:
        try:
            module = importlib.import_module(f"{__name__}.{sub}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{sub}":
                raise
            continue
        if sub in getattr(module, "__all__", ()):
            # importing ``api.status`` binds the module to the package's ``status``: the use
            # case of that name wins (a module's name may be one of its use cases)
            globals()[sub] = getattr(module, sub)
        if name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
