"""What a script, a notebook or a project declares, and the environments and locks made from it.

* ``model``         the ``Declaration`` (read from a file, or from an editor's unsaved text),
                    its indexes, the ``requires-python`` check;
* ``locking``       the lock beside it or inside the notebook: read, resolved (as data, as file
                    edits, or written), and the pins it gives an interpreter;
* ``memo``          answers kept in the cache (a declaration read before, pins computed before);
* ``environments``  the environment-store environment of a script or notebook, and a project's
                    ``.venv`` synced exactly;
* ``gpu``           where the PyTorch family comes from on this machine, as declaration text.

Names are loaded on first use: a notebook sync whose declaration is memoized imports only
``model`` and ``memo``.

Known limit: ``[tool.uv.sources]`` pinning a package to one named index is read but not yet
applied (every declared index is searched); the GPU-variant issue brings per-package indexes.
"""

from pyx_server.engine.lazy import exports

_EXPORTS = {
    "pyx_server.engine.declared.model": (
        "Declaration", "check_python", "declaration_from_text", "index_for", "read_declaration",
    ),
    "pyx_server.engine.declared.locking": (
        "has_lock", "lock", "lock_edits", "pins", "pins_from_lock", "read_current_lock", "resolve_lock",
        "write_current_lock",
    ),
    "pyx_server.engine.declared.environments": (
        "existing_script_environment", "project_itself", "project_sync", "run_inputs", "script_environment",
    ),
    "pyx_server.engine.declared.gpu": ("route_gpu_packages",),
}
_WHERE, __getattr__ = exports(__name__, _EXPORTS)
__all__ = sorted(_WHERE)
