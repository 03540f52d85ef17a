"""The engine is a library: nothing under pyx_server/engine imports a front."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "pyx_server" / "engine"
FRONTS = {
    "jupyter_server",
    "jupyter_client",
    "jupyterlab",
    "notebook",
    "tornado",
    "IPython",
    "ipykernel",
    "pygls",
    "lsprotocol",
    "rich",
    "click",
    "typer",
    "textual",
    "tqdm",
    "prompt_toolkit",
    "pyx_server.cli",
    "pyx_server.jupyter",
    "pyx_server.lsp",
}


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def is_front(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRONTS)


def test_detector_sees_front_imports() -> None:
    # the check itself must be able to fail
    assert is_front("rich.progress")
    assert is_front("IPython")
    assert not is_front("richtext")
    mods = imported_modules("import tornado.web\nfrom pygls.server import X\nimport os\n")
    assert {m for m in mods if is_front(m)} == {"tornado.web", "pygls.server"}


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_module_imports_no_front(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path.read_text()) if is_front(m))
    assert not bad, f"{path} imports front modules {bad}"
