"""The use cases every front calls, once: add, remove, lock, sync, environment_for, status,
pip_*, gpu_*.

Each is an async function taking a ``Context`` (``api.context``) and returning a frozen
dataclass with ``to_dict()``; errors are ``engine.errors`` values and progress goes to the
context's reporter. Fronts import from here (``from pyx_server.engine.api import add``) and
render; they hold no logic of their own.

Names are looked up lazily through ``_EXPORTS``, which says which submodule defines each, so
a front imports only the use cases it calls: importing every result type's module (dozens of
dataclasses) would cost a warm notebook sync about a fifth of its time.
``tests/test_api_exports.py`` keeps the table equal to the submodules' ``__all__``.
"""

from __future__ import annotations

from pyx_server.engine.lazy import exports

#: submodule → the names it defines (its ``__all__``)
_EXPORTS = {
    "context": ("Context", "IndexRequest"),
    "declared": ("EditResult", "InitResult", "InstallSummary", "LockResult", "SyncResult", "TorchBuild",
                 "TreeNode", "TreeResult", "add", "init", "lock", "remove", "sync", "tree"),
    "overview": ("PackageStatus", "Status", "StatusProblem", "status"),
    "environments": ("EnvironmentInfo", "environment_for", "stamp_run"),
    "pip": ("PackageChange", "PipInstallResult", "PipUninstallResult", "Plan", "PlannedWheel", "pip_install",
            "pip_uninstall"),
    "installed": ("BrokenRequirement", "InstalledPackage", "PackageDetails", "PipCheckResult", "PipFreezeResult",
                  "PipListResult", "PipShowResult", "pip_check", "pip_freeze", "pip_list", "pip_show"),
    "compile": ("PinnedPackage", "PipCompileResult", "format_requirements", "pip_compile"),
    "gpu": ("Accelerator", "Choice", "GpuDevice", "GpuReport", "GpuVariants", "Probe", "VariantIndexStatus",
            "gpu_report", "gpu_variants"),
    "maintenance": ("CacheCleanResult", "CacheDirResult", "CachePruneResult", "VenvResult", "cache_clean",
                    "cache_dir", "cache_prune", "venv"),
    "blocking": ("run",),
}
_WHERE, __getattr__ = exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
