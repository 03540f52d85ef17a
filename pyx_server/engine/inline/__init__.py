"""PEP 723 inline script metadata in ``.py`` scripts and ``.ipynb`` notebooks: read, check, edit.

The library the verbs (``pyx add/remove/lock/sync/run --script``), the Jupyter extension and
the language server call. A notebook keeps its block in a code cell, the convention juv
uses, so one file moves freely between pyx, juv and ``uv run``; index and source choices are
written as uv's ``[[tool.uv.index]]`` / ``[tool.uv.sources]`` tables for the same reason.

* ``block``     pure: the specification's regular expression, the block's TOML, its checks.
* ``tomledit``  pure: tomlkit edits of the block's TOML in the shapes uv writes.
* ``notebook``  pure: nbformat 4 cells, edits spliced into the JSON text without re-serializing.
* ``document``  pure: whole-text parse and edit of a script or notebook (editors preview here).
* ``files``     disk: decoding as Python does, atomic writes that keep the file's mode.
* ``model``     the typed results and the environment-store key.
"""

# The names below are loaded on first use (PEP 562): ``nbmeta`` and ``model`` are imported on
# every notebook sync, and the parsing and editing modules behind the other names cost
# several milliseconds to import that a sync whose declaration is memoized never needs.
_EXPORTS = {
    "pyx_server.engine.inline.document": (
        "AddDependencies", "Edit", "RemoveDependencies", "SetRequiresPython", "SetToolTable", "apply_edit",
        "parse_notebook", "parse_script", "parse_text", "tool_value",
    ),
    "pyx_server.engine.inline.files": (
        "add_dependencies", "edit", "read_metadata", "read_notebook", "read_script", "remove_dependencies",
        "set_requires_python", "set_tool_table",
    ),
    "pyx_server.engine.inline.model": ("BlockLocation", "ScriptMetadata", "UvIndex", "metadata_key"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AddDependencies",
    "BlockLocation",
    "Edit",
    "RemoveDependencies",
    "ScriptMetadata",
    "SetRequiresPython",
    "SetToolTable",
    "UvIndex",
    "add_dependencies",
    "apply_edit",
    "edit",
    "metadata_key",
    "parse_notebook",
    "parse_script",
    "parse_text",
    "read_metadata",
    "read_notebook",
    "read_script",
    "remove_dependencies",
    "set_requires_python",
    "set_tool_table",
    "tool_value",
]
