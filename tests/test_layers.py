"""The layers of DESIGN.md: the engine imports no front, and the fronts reach the engine only through its API.

* Nothing under ``pyx_server/engine`` imports a front (jupyter_server, tornado, IPython,
  pygls, rich …, or ``pyx_server.cli`` / ``.jupyter`` / ``.lsp``).
* Every module of a front (``pyx_server/cli``, and ``pyx_server/jupyter`` and
  ``pyx_server/lsp`` once they exist) imports from the engine only ``engine.api`` (and its
  submodules), ``engine.errors`` and ``engine.progress``: if a front needs more, the logic
  belongs in ``engine/api`` (or the type it renders is re-exported there).
"""


from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pyx_server"
ENGINE = PACKAGE / "engine"
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


# -- the fronts reach the engine only through engine.api -----------------------------------------------

#: the fronts' packages; ones not written yet are checked as soon as they exist
FRONT_PACKAGES = ("cli", "jupyter", "lsp")

#: what every front may import from the engine (each entry also covers its submodules)
FRONT_MAY_IMPORT = ("pyx_server.engine.api", "pyx_server.engine.errors", "pyx_server.engine.progress")

#: data-type modules a front renders and may import directly, each with why it cannot come
#: through engine.api: none. Re-export a type from engine.api instead of adding one here.
RENDERED_TYPES: dict[str, str] = {}

#: one module, one more engine module it may import, and why
JUSTIFIED = {
    # The fast `pyx run` launcher consults a run stamp before anything else is imported and
    # replaces the process with the script's interpreter when the stamp holds; importing
    # engine.api (its context, cache and Context machinery) first would cost the very start-up
    # time the stamp exists to save.
    "cli/launch.py": {"pyx_server.engine.envs.runstamp"},
}



def engine_imports(source: str, module: str) -> set[str]:
    """Every ``pyx_server.engine`` module the source of ``module`` imports, however spelled:
    ``import a.b``, ``from a import b`` (``a.b`` when ``b`` is a submodule), relative imports,
    and ``importlib.import_module("a.b")`` / ``__import__("a.b")`` with a literal name."""
    package = module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return {m for m in found if m == "pyx_server.engine" or m.startswith("pyx_server.engine.")}


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module (``from a import b`` imports the module ``a.b`` then)."""
    import importlib.util

    if not name.startswith("pyx_server."):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _covered(name: str, allowed) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def reaching_past_the_api(source: str, module: str, extra=()) -> list[str]:
    """The engine modules ``module`` imports that a front may not.

    ``from pyx_server.engine import api`` names the package ``pyx_server.engine`` as well as
    ``pyx_server.engine.api``: the bare package counts only when nothing more precise
    was imported from it.
    """
    allowed = (*FRONT_MAY_IMPORT, *RENDERED_TYPES, *extra)
    imported = engine_imports(source, module)
    bad = []
    for name in sorted(imported):
        if _covered(name, allowed):
            continue
        if name == "pyx_server.engine" and any(m.startswith("pyx_server.engine.") for m in imported):
            continue
        bad.append(name)
    return bad


def _front_modules() -> list[Path]:
    return sorted(p for front in FRONT_PACKAGES for p in (PACKAGE / front).rglob("*.py"))


def _front_id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_detector_sees_a_front_reaching_past_the_api() -> None:
    # the check itself must be able to fail, for every way of spelling an import
    mod = "pyx_server.cli.example"
    assert reaching_past_the_api("from pyx_server.engine.cache import Cache\n", mod) == ["pyx_server.engine.cache"]
    assert reaching_past_the_api("from pyx_server.engine import cache\n", mod) == ["pyx_server.engine.cache"]
    assert reaching_past_the_api("def f():\n    import pyx_server.engine.install.operations\n", mod) == [
        "pyx_server.engine.install.operations"
    ]
    assert reaching_past_the_api("from ..engine.gpu import detect\n", mod) == [
        "pyx_server.engine.gpu", "pyx_server.engine.gpu.detect"
    ]
    assert reaching_past_the_api("import importlib\nimportlib.import_module('pyx_server.engine.loop')\n", mod) == [
        "pyx_server.engine.loop"
    ]
    allowed = (
        "from pyx_server.engine.api import pip_install\n"
        "from pyx_server.engine.api.gpu import gpu_report\n"
        "from pyx_server.engine import api, errors, progress\n"
        "from pyx_server.engine.errors import PyxError\n"
        "import pyx_server.engine.progress\n"
        "from ..engine.api import blocking\n"
    )
    assert reaching_past_the_api(allowed, mod) == []
    assert reaching_past_the_api("from pyx_server.engine.envs.runstamp import ready_python\n", mod,
                                 JUSTIFIED["cli/launch.py"]) == []


def test_the_fronts_modules_are_all_checked() -> None:
    # a front module the parametrised test below missed would go unchecked
    names = {_front_id(p) for p in _front_modules()}
    assert {"cli/main.py", "cli/launch.py", "cli/gpu.py", "cli/pipcmds.py"} <= names
    assert set(JUSTIFIED) <= names and "cli/declared.py" in names


@pytest.mark.parametrize(
    "path",
    _front_modules(),
    ids=_front_id,
)
def test_front_module_imports_only_the_engine_api(path: Path) -> None:
    module = "pyx_server." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    bad = reaching_past_the_api(path.read_text(), module, JUSTIFIED.get(_front_id(path), ()))
    assert not bad, f"{path} imports {bad}: go through pyx_server.engine.api (re-export what it renders there)"
