"""engine.api's table of names is the submodules' ``__all__``, and looking a name up imports
only the module that defines it (a warm CLI command must not import every use case)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pyx_server.engine.api as api


def test_the_table_is_each_submodules_all() -> None:
    for module, names in api._EXPORTS.items():
        assert set(names) == set(importlib.import_module(f"pyx_server.engine.api.{module}").__all__), module


def test_a_name_imports_only_its_own_module() -> None:
    code = ("import sys\nfrom pyx_server.engine.api import run, Context\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyx_server.engine.api.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pyx_server.engine.api.blocking', 'pyx_server.engine.api.context']"


def test_every_name_resolves_to_what_its_module_defines() -> None:
    for name, module in api._WHERE.items():
        assert getattr(api, name) is getattr(importlib.import_module(module), name)
