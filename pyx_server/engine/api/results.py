"""The results of the declarative use cases (``api.declared``): frozen dataclasses with
``to_dict()`` (JSON-ready: numbers stay numbers, paths are strings, warnings are
``PyxWarning.to_dict()``), read by every front."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyx_server.engine.edits import FileEdit
from pyx_server.engine.errors import PyxWarning

__all__ = ["EditResult", "InitResult", "InstallSummary", "LockResult", "SyncResult", "TorchBuild", "TreeNode",
           "TreeResult"]


@dataclass(frozen=True)
class TorchBuild:
    """The PyTorch build recorded for the family: chosen now (``chosen``) or kept from the file."""

    variant: str
    reason: str
    packages: tuple[str, ...] = ()
    chosen: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "reason": self.reason, "packages": list(self.packages),
                "chosen": self.chosen}


@dataclass(frozen=True)
class InstallSummary:
    """What a sync changed in an environment (the install's result in JSON-ready form)."""

    installed: tuple[tuple[str, str], ...] = ()
    uninstalled: tuple[tuple[str, str], ...] = ()
    audited: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, result, seconds: float) -> InstallSummary | None:
        if result is None:
            return None
        return cls(tuple((c.name, c.version) for c in result.installed),
                   tuple((c.name, c.version) for c in result.uninstalled), result.audited, seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"installed": [{"name": n, "version": v} for n, v in self.installed],
                "uninstalled": [{"name": n, "version": v} for n, v in self.uninstalled],
                "audited": self.audited, "seconds": self.seconds}


@dataclass(frozen=True)
class EditResult:
    """What ``add`` or ``remove`` did: the requirements written (or names removed), the file
    edits (applied or handed back), where the lock went, and the sync that followed."""

    operation: str
    kind: str
    path: Path
    #: ``add``: the requirements as written (bare names with their lower bound); ``remove``: the names
    requirements: tuple[str, ...]
    edits: tuple[FileEdit, ...]
    applied: bool
    #: where the lock is (a ``pylock.toml`` path, or ``nb.ipynb (metadata.pyx.pylock)``); None: not locked
    lock: str | None = None
    locked_packages: int | None = None
    torch: TorchBuild | None = None
    warnings: tuple[PyxWarning, ...] = ()
    #: the environment synced afterwards (projects), or None
    environment: str | None = None
    synced: InstallSummary | None = None
    #: the engine's install result, for fronts that render it in full (not in ``to_dict``)
    install: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "path": str(self.path),
                "requirements": list(self.requirements), "edits": [e.to_dict() for e in self.edits],
                "applied": self.applied, "lock": self.lock, "locked_packages": self.locked_packages,
                "torch": self.torch.to_dict() if self.torch else None,
                "warnings": [w.to_dict() for w in self.warnings], "environment": self.environment,
                "synced": self.synced.to_dict() if self.synced else None}


@dataclass(frozen=True)
class LockResult:
    operation: str
    kind: str
    path: Path
    lock: str
    #: (name, version) of every locked package, sorted by name
    packages: tuple[tuple[str, str], ...]
    edits: tuple[FileEdit, ...]
    applied: bool
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "path": str(self.path), "lock": self.lock,
                "packages": [{"name": n, "version": v} for n, v in self.packages],
                "edits": [e.to_dict() for e in self.edits], "applied": self.applied, "seconds": self.seconds}


@dataclass(frozen=True)
class SyncResult:
    """The environment made to match the declaration (and its lock)."""

    operation: str
    kind: str
    path: Path
    environment: str
    python: str
    created: bool
    torch: TorchBuild | None = None
    warnings: tuple[PyxWarning, ...] = ()
    synced: InstallSummary | None = None
    seconds: float = 0.0
    install: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "path": str(self.path),
                "environment": self.environment, "python": self.python, "created": self.created,
                "torch": self.torch.to_dict() if self.torch else None,
                "warnings": [w.to_dict() for w in self.warnings],
                "synced": self.synced.to_dict() if self.synced else None, "seconds": self.seconds}


@dataclass(frozen=True)
class InitResult:
    operation: str
    path: Path
    name: str
    requires_python: str
    edits: tuple[FileEdit, ...]
    applied: bool

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "path": str(self.path), "name": self.name,
                "requires_python": self.requires_python, "edits": [e.to_dict() for e in self.edits],
                "applied": self.applied}


@dataclass(frozen=True)
class TreeNode:
    """A package in the dependency tree; ``repeated``: shown before, its children left out (uv's ``(*)``)."""

    name: str
    version: str | None
    children: tuple[TreeNode, ...] = ()
    repeated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "repeated": self.repeated,
                "children": [c.to_dict() for c in self.children]}


@dataclass(frozen=True)
class TreeResult:
    operation: str
    kind: str
    path: Path
    #: the project's name, or the script's or notebook's file name: the tree's root line
    root: str
    version: str | None
    dependencies: tuple[TreeNode, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "path": str(self.path), "root": self.root,
                "version": self.version, "dependencies": [d.to_dict() for d in self.dependencies]}
