"""Projects: ``pyproject.toml`` found, read into a typed view, and edited without disturbing it.

* ``model``     the typed view (``Project``, ``UvSource``; ``UvIndex`` is ``engine.uvindex``'s)
                and the project error;
* ``reading``   discovery (walking up to the nearest project), checking, dependency groups,
                and ``requirements_of`` (what to resolve);
* ``tomltext``  TOML as text: values, headers and sections found, inserted and removed;
* ``arrays``    dependency arrays edited as text in their own style;
* ``editing``   adding and removing dependencies (pure on text, or on the file);
* ``tables``    ``[tool]`` values as uv writes them: indexes, sources;
* ``files``     ``pyx init``'s new file, and writing edits through the one atomic writer.

Every edit has a pure form on text (what an editor previews and what the use cases write
together with the lock) and validates the whole result before anything is written.
Names are loaded on first use.
"""

from pyx_server.engine.lazy import exports

_EXPORTS = {
    "pyx_server.engine.project.model": ("DEFAULT_GROUPS", "PYPROJECT", "Project", "UvSource"),
    "pyx_server.engine.uvindex": ("UvIndex",),
    "pyx_server.engine.project.reading": (
        "find_project", "load_project", "parse_requires_python", "project_from_text", "requirements_of",
    ),
    "pyx_server.engine.project.arrays": ("format_requirement",),
    "pyx_server.engine.project.editing": (
        "add_dependencies", "add_dependencies_to_text", "remove_dependencies", "remove_dependencies_from_text",
    ),
    "pyx_server.engine.project.tables": (
        "add_uv_index", "add_uv_index_to_text", "set_tool_value", "set_tool_value_in_text", "set_uv_source",
        "set_uv_source_in_text",
    ),
    "pyx_server.engine.project.files": ("init_project", "new_project_text"),
}
_WHERE, __getattr__ = exports(__name__, _EXPORTS)
__all__ = sorted(_WHERE)
