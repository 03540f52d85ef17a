"""Runs every resolver case in ``cases/`` (format: ``README.md``) against the in-memory provider.

Conflict cases are snapshots: the explanation and hints must match exactly, so a change in
wording shows up as a diff. After an intended change, rewrite the snapshots with
``PYX_UPDATE_RESOLVER_SNAPSHOTS=1 python -m pytest tests/resolver/test_cases.py`` and review
the diff of ``cases/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from tests.resolver.casefile import CASES, load_toml, run

# read at import time: the autouse fixture of tests/conftest.py clears PYX_* variables
UPDATE = os.environ.get("PYX_UPDATE_RESOLVER_SNAPSHOTS") == "1"

CASE_FILES = sorted(CASES.glob("*.toml"))
TOP_KEYS = {"description", "requested", "options", "index", "urls", "not-found-hints", "expected"}
EXPECTED_KEYS = {"resolved", "extras", "via", "warnings", "explanation", "hints"}


def _update(path: Path, explanation: str, hints: list[str]) -> None:
    document = tomlkit.parse(path.read_text())
    expected = document["expected"]
    expected["explanation"] = tomlkit.string(explanation + "\n", multiline=True)  # type: ignore[index]
    expected["hints"] = hints  # type: ignore[index]
    # TOML drops a newline right after the opening quotes: start the text on its own line
    path.write_text(tomlkit.dumps(document).replace('explanation = """', 'explanation = """\n', 1))


def test_cases_exist() -> None:
    assert len(CASE_FILES) >= 40


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_file_is_well_formed(path: Path) -> None:
    case = load_toml(path)
    assert set(case) <= TOP_KEYS, set(case) - TOP_KEYS
    assert case.get("description"), "every case says what it checks"
    assert isinstance(case.get("requested"), list)
    expected: dict[str, Any] = case["expected"]
    assert set(expected) <= EXPECTED_KEYS, set(expected) - EXPECTED_KEYS
    assert ("resolved" in expected) != ("explanation" in expected), "a case either resolves or conflicts"


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load_toml(path)
    expected = case["expected"]
    outcome = run(case)
    if "resolved" in expected:
        assert outcome.explanation is None, f"expected a resolution, got:\n{outcome.explanation}"
        assert outcome.resolved == expected["resolved"]
        if "extras" in expected:
            assert outcome.extras == expected["extras"]
        if "via" in expected:
            assert {k: v for k, v in outcome.via.items() if k in expected["via"]} == expected["via"]
        assert outcome.warnings == expected.get("warnings", [])
        return
    assert outcome.resolved is None, f"expected a conflict, got {outcome.resolved}"
    assert outcome.explanation is not None
    if UPDATE:
        _update(path, outcome.explanation, outcome.hints)
        return
    assert outcome.explanation == expected["explanation"].strip()
    assert outcome.hints == expected.get("hints", [])


@pytest.mark.parametrize(
    ("requires_python", "floor"),
    [
        (">=3.9", ">=3.9"),
        (">=3.8,<4", ">=3.8"),
        ("<=3.8", ""),
        ("~=3.8", ">=3.8"),
        ("==3.8.*", ">=3.8"),
        ("==3.10.2", ">=3.10.2"),
        (">3.7,!=3.9.*", ">3.7"),
    ],
)
def test_requires_python_counts_by_its_floor(requires_python: str, floor: str) -> None:
    from packaging.specifiers import SpecifierSet

    from pyx_server.engine.resolver.python import python_floor

    assert python_floor(requires_python) == SpecifierSet(floor)
    assert python_floor(SpecifierSet(requires_python)) == SpecifierSet(floor)
