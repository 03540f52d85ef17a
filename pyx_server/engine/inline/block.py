"""Pure PEP 723 block handling on text: find the ``script`` block, read its TOML, re-render it.

Finding follows the specification's reference regular expression exactly (``REGEX``), run
over the text as Python reads a source file (universal newlines: ``\\r\\n`` and ``\\r``
become ``\\n``, so a CRLF file is read the same as an LF one). On top of the regex, two
conditions are errors, as uv reports them: a ``# /// script`` line that opens no block
(unclosed, or a line in it lacks the ``#`` / ``# `` prefix) and two ``script`` blocks. Blocks
of other types are ignored. One case the regex cannot match, ``# /// script`` directly
followed by ``# ///``, is read as an empty block, as uv reads it.

The embedded TOML is each content line without its first two characters when the second is
a space, else without its first (a lone ``#``). Lines end at newlines, where the regex's
lines end; the reference implementation's ``str.splitlines`` would also split at U+2028 and
similar characters inside a TOML string, uv does not.

Nothing here knows about files or notebooks: problems are raised as ``BlockProblem`` with a
line number relative to the text given, and the caller (``document``) turns them into
``InlineMetadataError`` located in the file and, for notebooks, the cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

#: the regular expression of the specification, verbatim
REGEX = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
OPENER = "# /// script"
CLOSER = "# ///"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*at line (\d+) col(?:umn)? (\d+)|\s*\(at end of document\)")
_HINT_PREFIX = "every line between `# /// script` and `# ///` must be `#` alone or start with `# `"


class BlockProblem(Exception):
    """A malformed block: ``line`` (1-based, in the text given) and what is wrong."""

    def __init__(self, message: str, line: int, *, column: int | None = None, hints: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hints = list(hints)


def split_lines(text: str) -> list[str]:
    """Lines with their terminators, split only where Python's universal newlines split."""
    return _LINE.findall(text)


def line_body(line: str) -> str:
    """A line without its terminator (``\\r\\n``, ``\\r`` or ``\\n``)."""
    return line.rstrip("\r\n")


def normalize(lines: Sequence[str]) -> str:
    """The text as ``open(..., newline=None)`` would read it: every terminator is ``\\n``."""
    return "".join(line_body(line) + "\n" if line != line_body(line) else line for line in lines)


@dataclass(frozen=True)
class Block:
    """Where the ``script`` block sits in a text (0-based line indexes) and its TOML content."""

    #: index of the ``# /// script`` line
    start: int
    #: index of the closing ``# ///`` line
    end: int
    #: the embedded TOML, comment prefixes removed (always ends with a newline)
    content: str

    @property
    def content_lines(self) -> range:
        return range(self.start + 1, self.end)


def find_block(lines: Sequence[str]) -> Block | None:
    """The one ``script`` block of a text split by ``split_lines``; None when there is none.

    Raises ``BlockProblem`` for an unclosed ``# /// script`` and for two ``script`` blocks.
    """
    text = normalize(lines)
    spans: list[tuple[int, int]] = []
    scripts: list[Block] = []
    for match in REGEX.finditer(text):
        start = text.count("\n", 0, match.start())
        end = text.count("\n", 0, match.end())
        spans.append((start, end))
        if match.group("type") == "script":
            # the group ends with a newline, so the last piece of the split is empty
            raw_lines = match.group("content").split("\n")[:-1]
            content = "".join((raw[2:] if raw.startswith("# ") else raw[1:]) + "\n" for raw in raw_lines)
            scripts.append(Block(start, end, content))
    for index, line in enumerate(lines):
        if line_body(line) == OPENER and not any(a <= index <= b for a, b in spans):
            if index + 1 < len(lines) and line_body(lines[index + 1]) == CLOSER:
                # an empty block: the regex needs one content line, uv reads it as empty
                scripts.append(Block(index, index + 1, ""))
                spans.append((index, index + 1))
                continue
            raise BlockProblem(
                "the `# /// script` block is never closed with `# ///`",
                index + 1,
                hints=[_HINT_PREFIX + "; end the block with a line `# ///`"],
            )
    if len(scripts) > 1:
        scripts.sort(key=lambda block: block.start)
        lines_at = ", ".join(str(block.start + 1) for block in scripts)
        raise BlockProblem(
            f"more than one `# /// script` block (they start at lines {lines_at})",
            scripts[1].start + 1,
            hints=["keep one `script` block and merge the others into it"],
        )
    return scripts[0] if scripts else None


def parse_toml(block: Block, lines: Sequence[str]) -> dict[str, Any]:
    """The block's TOML as plain data; a TOML error points at the line of the text it came from."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomlkit reads it as well
        tomllib = None  # type: ignore[assignment]
    try:
        if tomllib is not None:
            return tomllib.loads(block.content)
        import tomlkit

        return tomlkit.parse(block.content).unwrap()
    except (Exception, RecursionError) as exc:  # tomllib.TOMLDecodeError / tomlkit's ParseError
        # tomllib recurses once per level of nesting: a deep enough array is a RecursionError
        text = "nested too deeply to read" if isinstance(exc, RecursionError) else str(getattr(exc, "msg", None) or exc)
        line, column = _toml_position(exc, text)
        reason = _TOML_AT.sub("", text).strip() or "invalid TOML"
        if line is None:
            raise BlockProblem(f"the `script` block is not valid TOML: {reason}", block.end + 1) from exc
        line = min(max(line, 1), block.end - block.start - 1 or 1)
        source = line_body(lines[block.start + line]) if block.start + line < block.end else ""
        file_column = column + (2 if source.startswith("# ") else 1) if column else None
        raise BlockProblem(
            f"the `script` block is not valid TOML: {reason}", block.start + 1 + line, column=file_column
        ) from exc


def _toml_position(exc: Exception, text: str) -> tuple[int | None, int | None]:
    line = getattr(exc, "lineno", None) or getattr(exc, "line", None)
    column = getattr(exc, "colno", None) or getattr(exc, "col", None)
    if isinstance(line, int) and line > 0:
        return line, column if isinstance(column, int) else None
    match = _TOML_AT.search(text)
    if match and (match.group(1) or match.group(3)):
        return int(match.group(1) or match.group(3)), int(match.group(2) or match.group(4))
    return None, None


@dataclass(frozen=True)
class Fields:
    """The standard fields of a block, checked: what ``ScriptMetadata`` is built from."""

    dependencies: tuple[str, ...]
    requires_python: str | None
    tool: Mapping[str, Any]


def check_fields(data: Mapping[str, Any], block: Block, lines: Sequence[str]) -> Fields:
    """Check ``dependencies``, ``requires-python`` and ``[tool]`` (uv's index and sources tables)."""

    def where(needle: str | None, key: str) -> int:
        return _find_line(lines, block, needle, key)

    deps = data.get("dependencies", [])
    if not isinstance(deps, list):
        raise BlockProblem(
            f"`dependencies` must be an array of strings, not `{deps!r}`",
            where(None, "dependencies"),
            hints=['write it as `dependencies = ["requests<3", "rich"]`'],
        )
    for dep in deps:
        if not isinstance(dep, str):
            raise BlockProblem(
                f"`dependencies` must hold requirement strings; `{dep!r}` is not a string",
                where(_first_key(dep), "dependencies"),
                hints=['write each requirement as a string, e.g. `"scipy>=1.13"`'],
            )
    for dep in deps:
        try:
            Requirement(dep)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "invalid"
            raise BlockProblem(
                f"`{dep}` in `dependencies` is not a valid requirement: {reason}",
                where(dep, "dependencies"),
                hints=["requirements follow PEP 508, e.g. `numpy>=1.26` or `torch[cuda]; sys_platform == 'linux'`"],
            ) from exc
    requires_python = data.get("requires-python")
    if requires_python is not None:
        if not isinstance(requires_python, str):
            raise BlockProblem(
                f"`requires-python` must be a string, not `{requires_python!r}`", where(None, "requires-python")
            )
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier as exc:
            raise BlockProblem(
                f"`requires-python` is not a valid version specifier: `{requires_python}`",
                where(requires_python, "requires-python"),
                hints=['write it as e.g. `requires-python = ">=3.11"`'],
            ) from exc
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise BlockProblem(f"`tool` must be a table, not `{tool!r}`", where(None, "tool"))
    _check_uv(tool.get("uv"), where)
    return Fields(tuple(deps), requires_python, tool)


def _check_uv(uv: Any, where: Any) -> None:
    if uv is None:
        return
    if not isinstance(uv, dict):
        raise BlockProblem(f"`tool.uv` must be a table, not `{uv!r}`", where(None, "uv"))
    indexes = uv.get("index", [])
    if not isinstance(indexes, list) or not all(isinstance(i, dict) for i in indexes):
        raise BlockProblem("`tool.uv.index` must be an array of tables (`[[tool.uv.index]]`)", where(None, "index"))
    for index in indexes:
        if not isinstance(index.get("url"), str):
            raise BlockProblem(
                f"an entry of `tool.uv.index` has no `url` string: `{index!r}`",
                where(None, "index"),
                hints=['each `[[tool.uv.index]]` needs `url = "..."` (and usually `name = "..."`)'],
            )
        for key in ("name",):
            if key in index and not isinstance(index[key], str):
                raise BlockProblem(f"`tool.uv.index` `{key}` must be a string: `{index[key]!r}`", where(None, key))
        for key in ("explicit", "default"):
            if key in index and not isinstance(index[key], bool):
                raise BlockProblem(f"`tool.uv.index` `{key}` must be `true` or `false`: `{index[key]!r}`", where(None, key))
    sources = uv.get("sources", {})
    if not isinstance(sources, dict):
        raise BlockProblem(f"`tool.uv.sources` must be a table, not `{sources!r}`", where(None, "sources"))
    for name, source in sources.items():
        if not isinstance(source, (dict, list)):
            raise BlockProblem(
                f"`tool.uv.sources` entry `{name}` must be a table such as `{{ index = \"...\" }}`, not `{source!r}`",
                where(None, name),
            )


def _first_key(value: Any) -> str | None:
    """A string that shows where a non-string value sits in the text (its first key, say)."""
    if isinstance(value, dict) and value:
        return next(iter(value))
    return None


def _find_line(lines: Sequence[str], block: Block, needle: str | None, key: str) -> int:
    """The 1-based line of the block that holds ``needle`` (else the line defining ``key``)."""
    candidates = [line_body(lines[i]) for i in block.content_lines]
    if needle:
        for offset, text in enumerate(candidates):
            if needle in text:
                return block.start + 2 + offset
    pattern = re.compile(rf"^#\s*(?:\[+[^\]]*)?[\"']?{re.escape(key)}\b")
    for offset, text in enumerate(candidates):
        if pattern.search(text):
            return block.start + 2 + offset
    return block.start + 1


def comment_lines(content: str) -> list[str]:
    """TOML content as block lines (without terminators): ``# `` before text, a lone ``#`` for blanks."""
    pieces = content.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    return ["# " + line if line else "#" for line in pieces]


def render_block(old: Block | None, old_lines: Sequence[str], content: str) -> list[str]:
    """The block's lines (no terminators) for new TOML ``content``; unchanged TOML lines keep their bytes.

    A line the edit did not touch keeps its exact original form (``# `` with trailing blanks,
    say), so an edit changes only the lines it must.
    """
    import difflib

    new = comment_lines(content)
    if old is None:
        return [OPENER, *new, CLOSER]
    original = [line_body(old_lines[i]) for i in old.content_lines]
    stripped = [line[2:] if line.startswith("# ") else line[1:] for line in original]
    wanted = [line[2:] if line.startswith("# ") else line[1:] for line in new]
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=stripped, b=wanted, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        out.extend(original[a0:a1] if tag == "equal" else new[b0:b1])
    return [line_body(old_lines[old.start]), *out, line_body(old_lines[old.end])]
