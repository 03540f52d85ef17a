"""Where things are in a test's virtual environment."""

from __future__ import annotations

from pathlib import Path


def site(venv: Path) -> Path:
    """The environment's site-packages."""
    return next((venv / "lib").glob("python*/site-packages"))
