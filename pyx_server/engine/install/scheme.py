"""Where an environment keeps each kind of installed file (the install scheme)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Scheme:
    """The target directories of one environment, as ``sysconfig.get_paths()`` names them.

    The wheel spec's ``.data/<key>/`` directories map onto these: ``purelib``, ``platlib``,
    ``scripts``, ``data`` and ``headers`` (sysconfig's ``include`` plus the project name).
    """

    purelib: Path
    platlib: Path
    scripts: Path
    data: Path
    include: Path

    def headers_for(self, project: str) -> Path:
        """Headers of ``project`` go under ``include/site/pythonX.Y/<project>`` in a venv, like pip."""
        return self.include / project
