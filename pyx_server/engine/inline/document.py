"""Pure reading and editing of a whole script or notebook text: no disk, so editors can preview.

``parse_script`` / ``parse_notebook`` turn text into ``ScriptMetadata`` (or None when there is
no block) and every problem into ``InlineMetadataError`` whose ``location`` holds the file,
the line, and for a notebook the cell. ``apply_edit`` takes one of the edit values below and returns the new
text; everything outside the block's changed lines is returned unchanged, byte for byte.
A new block goes after a shebang and a PEP 263 encoding line (which must stay on line 1
or 2), else at the top, followed by a blank line as uv writes it; in a notebook it goes in a
new hidden first code cell, as juv writes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from packaging.requirements import InvalidRequirement as _BadRequirement
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from pyx_server.engine.errors import DependencyNotFound, InlineMetadataError, InvalidRequirement, Location, UsageError
from pyx_server.engine.inline import block as blk
from pyx_server.engine.inline import notebook as nb
from pyx_server.engine.inline.model import BlockLocation, ScriptMetadata

#: PEP 263's encoding declaration
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


# -- edits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddDependencies:
    """Add requirements; one with the name and marker of an entry replaces it in place."""

    requirements: tuple[str, ...]
    replace_same_name: bool = True
    #: written only when the edit creates the block (uv writes one there too)
    requires_python: str | None = None


@dataclass(frozen=True)
class RemoveDependencies:
    """Remove every entry of each name; a name that is not declared is an error."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class SetRequiresPython:
    specifier: str


@dataclass(frozen=True)
class SetToolTable:
    """Set ``tool.<dotted_key>`` (``uv.index``, ``uv.sources.torch``, ``pyx``…); None removes it."""

    dotted_key: str
    value: Any = field(default=None)


Edit = Union[AddDependencies, RemoveDependencies, SetRequiresPython, SetToolTable]


def _checked_requirements(requirements: Sequence[str]) -> list[Requirement]:
    if isinstance(requirements, str):
        requirements = [requirements]
    out = []
    for text in requirements:
        try:
            out.append(Requirement(text.strip()))
        except _BadRequirement as exc:
            raise InvalidRequirement(
                f"`{text}` is not a valid requirement: {exc}",
                hints=["requirements follow PEP 508, e.g. `numpy>=1.26` or `torch[cuda]`"],
            ) from exc
    if not out:
        raise UsageError("no requirement to add")
    return out


def _checked_specifier(specifier: str) -> str:
    try:
        return str(SpecifierSet(specifier.strip())) if specifier.strip() else _bad_specifier(specifier)
    except InvalidSpecifier:
        return _bad_specifier(specifier)


def _bad_specifier(specifier: str) -> str:
    raise UsageError(
        f"`{specifier}` is not a valid `requires-python` version specifier",
        hints=["write it as e.g. `>=3.11` or `>=3.10,<3.14`"],
    )


def _toml_transform(edit: Edit, path: Path) -> tuple[Any, bool]:
    """The TOML transformation for ``edit`` (checked up front) and whether it may create a block."""
    from pyx_server.engine.inline import tomledit  # tomlkit only when editing: reads stay light

    if isinstance(edit, AddDependencies):
        reqs = _checked_requirements(edit.requirements)
        spec = _checked_specifier(edit.requires_python) if edit.requires_python else None

        def add(content: str, creating: bool) -> str:
            if creating and spec:
                content = tomledit.set_requires_python(content, spec)
            return tomledit.add_dependencies(content, reqs, replace_same_name=edit.replace_same_name)

        return add, True
    if isinstance(edit, RemoveDependencies):
        names = list([edit.names] if isinstance(edit.names, str) else edit.names)
        if not names:
            raise UsageError("no dependency to remove")
        return (lambda content, creating: tomledit.remove_dependencies(content, names)), False
    if isinstance(edit, SetRequiresPython):
        spec = _checked_specifier(edit.specifier)
        return (lambda content, creating: tomledit.set_requires_python(content, spec)), True
    if isinstance(edit, SetToolTable):
        return (lambda content, creating: tomledit.set_tool(content, edit.dotted_key, edit.value)), True
    raise TypeError(f"not an inline metadata edit: {edit!r}")


# -- scripts -------------------------------------------------------------------------------


def parse_script(text: str, path: Path) -> ScriptMetadata | None:
    """The script's block as ``ScriptMetadata``; None when it has none."""
    lines = blk.split_lines(text)
    found = _read_block(lines, path)
    return None if found is None else found[1]


def _read_block(lines: Sequence[str], path: Path, cell: nb.Cell | None = None) -> tuple[blk.Block, ScriptMetadata] | None:
    cell_index = cell.index if cell else None
    cell_id = cell.cell_id if cell else None
    try:
        block = blk.find_block(lines)
        if block is None:
            return None
        data = blk.parse_toml(block, lines)
        fields = blk.check_fields(data, block, lines)
    except blk.BlockProblem as problem:
        raise InlineMetadataError(
            problem.message,
            context={"cell_id": cell_id} if cell_id else None,
            hints=problem.hints,
            location=Location(str(path), problem.line, problem.column, cell=cell_index),
        ) from problem
    location = BlockLocation(path, block.start + 1, block.end + 1, cell_index, cell_id)
    meta = ScriptMetadata(fields.dependencies, fields.requires_python, fields.tool, block.content, location)
    return block, meta


def _new_content(edit: Edit, path: Path, block: blk.Block | None, location: Location) -> str | None:
    from pyx_server.engine.inline.tomledit import EditProblem

    transform, may_create = _toml_transform(edit, path)
    if block is None and not may_create:
        if isinstance(edit, RemoveDependencies):
            listed = ", ".join(f"`{n}`" for n in ([edit.names] if isinstance(edit.names, str) else edit.names))
            raise DependencyNotFound(
                f"{listed} cannot be removed: the file has no `# /// script` block", location=location
            )
        raise UsageError("the file has no `# /// script` block", location=location)
    old = block.content if block is not None else ""
    try:
        new = transform(old, block is None)
    except EditProblem as problem:
        error = DependencyNotFound if isinstance(edit, RemoveDependencies) else UsageError
        raise error(problem.message, hints=problem.hints, location=location) from problem
    if not new.strip():
        new = "dependencies = []\n"  # never an empty block: the reference reader would not see it
    return None if (block is not None and new == old) else new


def _splice(lines: Sequence[str], block: blk.Block, content: str) -> str:
    """The text with the block's lines replaced; its line terminator style is kept."""
    opener = lines[block.start]
    newline = opener[len(blk.line_body(opener)) :] or "\n"
    closer = lines[block.end]
    end = closer[len(blk.line_body(closer)) :]
    rendered = newline.join(blk.render_block(block, lines, content))
    return "".join(lines[: block.start]) + rendered + end + "".join(lines[block.end + 1 :])


def _insert(lines: Sequence[str], content: str) -> str:
    """The text with a new block after the shebang and encoding lines, a blank line after it."""
    newline = next((line[len(blk.line_body(line)) :] for line in lines if line != blk.line_body(line)), "\n")
    at = 0
    if lines and lines[0].startswith("#!"):
        at = 1
    for index in (0, 1):
        if index < len(lines) and _CODING.match(lines[index]) and (index == 0 or lines[0].lstrip().startswith("#") or not lines[0].strip()):
            at = max(at, index + 1)
    head = "".join(lines[:at])
    if head and head == blk.line_body(head):
        head += newline
    rest = "".join(lines[at:])
    block_text = newline.join(blk.render_block(None, [], content)) + newline
    if rest and blk.line_body(lines[at]).strip():
        block_text += newline
    return head + block_text + rest


def _edit_script_text(text: str, path: Path, edit: Edit) -> str:
    lines = blk.split_lines(text)
    found = _read_block(lines, path)
    block = found[0] if found else None
    where = Location(str(path), block.start + 1 if block is not None else None)
    content = _new_content(edit, path, block, where)
    if content is None:
        return text
    return _splice(lines, block, content) if block is not None else _insert(lines, content)


# -- notebooks -----------------------------------------------------------------------------


def _notebook_cells(text: str, path: Path) -> list[nb.Cell]:
    try:
        return nb.parse(text)[1]
    except nb.NotebookProblem as problem:
        raise InlineMetadataError(
            problem.message,
            hints=["a notebook must be nbformat 4 JSON, as Jupyter saves it"],
            location=Location(str(path), problem.line, problem.column, cell=problem.cell),
        ) from problem


def _notebook_block(text: str, path: Path) -> tuple[nb.Cell, list[str], blk.Block, ScriptMetadata] | None:
    found = []
    for cell in _notebook_cells(text, path):
        if not cell.is_python:
            continue
        lines = blk.split_lines(cell.source)
        read = _read_block(lines, path, cell)
        if read is not None:
            found.append((cell, lines, *read))
    if len(found) > 1:
        first, second = found[0], found[1]
        raise InlineMetadataError(
            f"a second `# /// script` block (the first is in cell {first[0].index + 1})",
            hints=["a notebook declares its dependencies in one cell; merge the blocks into the first"],
            location=Location(str(path), second[2].start + 1, cell=second[0].index),
        )
    return found[0] if found else None


def parse_notebook(text: str, path: Path) -> ScriptMetadata | None:
    """The notebook's block (first Python code cell holding one) as ``ScriptMetadata``; None when none."""
    found = _notebook_block(text, path)
    return None if found is None else found[3]


def _edit_notebook_text(text: str, path: Path, edit: Edit) -> str:
    found = _notebook_block(text, path)
    if found is None:
        content = _new_content(edit, path, None, Location(str(path)))
        assert content is not None
        cells = _notebook_cells(text, path)
        code = next((c for c in cells if c.cell_type == "code"), None)
        source = "\n".join(blk.render_block(None, [], content))  # juv ends the cell at `# ///`
        return nb.insert_cell(text, source, hidden=True, list_source=code.source_is_list if code else True)
    cell, lines, block, _ = found
    content = _new_content(edit, path, block, Location(str(path), block.start + 1, cell=cell.index))
    if content is None:
        return text
    return nb.replace_source(text, cell.index, _splice(lines, block, content))


# -- either --------------------------------------------------------------------------------


def is_notebook(path: Path) -> bool:
    """Notebooks are told from scripts by suffix alone, as juv and Jupyter do."""
    return Path(path).suffix.lower() == ".ipynb"


def parse_text(text: str, path: Path) -> ScriptMetadata | None:
    """The block of a script or notebook text, chosen by the path's suffix."""
    return parse_notebook(text, path) if is_notebook(path) else parse_script(text, path)


def apply_edit(text: str, path: Path, edit: Edit) -> tuple[str, ScriptMetadata]:
    """The text after ``edit`` and the metadata it then declares; raises before any change.

    The result is read back before it is returned, so an edit never yields a file that pyx,
    uv or juv would refuse.
    """
    path = Path(path)
    new = _edit_notebook_text(text, path, edit) if is_notebook(path) else _edit_script_text(text, path, edit)
    meta = parse_text(new, path)
    if meta is None:  # pragma: no cover - an edit always leaves a block
        raise InlineMetadataError(f"`{path}`: the edited block could not be read back")
    return new, meta


def tool_value(meta: ScriptMetadata, dotted_key: str) -> Any:
    """``tool.<dotted_key>`` of ``meta`` (None when absent), for read-modify-write of tool tables."""
    value: Any = meta.tool
    for part in dotted_key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
