"""Which Requires-Python a resolution honours: the lower bound only, as uv does.

A package's ``Requires-Python`` says which Pythons its authors support, and core metadata
lets an installer consult it when choosing a version. Its lower bounds are facts (the code
uses syntax or APIs that older Pythons lack); its upper bounds (``<3.13``, ``<=3.8``,
``~=3.8``) are nearly always guesses made before the next Python existed, and honouring
them sends a resolver back to years-old releases, or fails it, for no real incompatibility.
pyx therefore reads a Requires-Python as its floor: ``>=``/``>`` as written, ``==3.8.*``,
``==3.8.1`` and ``~=3.8`` as ``>=`` their version, and ``<``, ``<=``, ``!=`` not at all. uv
behaves the same way, and the resolver scenarios it is measured with expect it.
"""

from __future__ import annotations

from packaging.specifiers import Specifier, SpecifierSet

__all__ = ["python_floor"]

_FLOORS: dict[str, SpecifierSet] = {}


def python_floor(requires_python: SpecifierSet | str) -> SpecifierSet:
    """The lower bounds of a Requires-Python, as a specifier set (empty when it has none)."""
    text = str(requires_python)
    found = _FLOORS.get(text)
    if found is None:
        floors: list[str] = []
        for spec in SpecifierSet(text) if isinstance(requires_python, str) else requires_python:
            op, version = spec.operator, spec.version
            if op in (">=", ">"):
                floors.append(f"{op}{version}")
            elif op in ("==", "~="):
                floors.append(f">={version.removesuffix('.*')}")
            # "<", "<=", "!=" and "===" bound nothing from below
        found = _FLOORS[text] = SpecifierSet(",".join(str(Specifier(f)) for f in floors))
    return found
