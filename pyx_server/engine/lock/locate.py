"""Pure: the line of a key path (``("packages", 3, "wheels", 0, "hashes")``) in ``pylock.toml`` text.

Only asked when a lock has an error or a warning to point at: it scans the text for table
headers and keys instead of keeping positions while parsing, so a valid lock costs nothing.
Both layouts pyx and other tools write are understood: ``[[packages]]`` arrays of tables with
``[[packages.wheels]]`` sub-tables, and inline arrays of inline tables.
"""

from __future__ import annotations

import re

#: a key path such as ("packages", 3, "wheels", 0, "hashes")
Path_ = tuple

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _key_line(key: str) -> re.Pattern[str]:
    quoted = re.escape(key)
    return re.compile(rf"""^\s*(?:{quoted}|"{quoted}"|'{quoted}')\s*(?:=|\.)""")


def _headers(lines: list[str]) -> list[tuple[int, str, bool]]:
    """(line index, dotted name without spaces, is array-of-tables) for every table header."""
    found = []
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            name = re.sub(r"\s+", "", match.group(2)).replace('"', "").replace("'", "")
            found.append((i, name, match.group(1) == "[["))
    return found


def locate(text: str, where: Path_) -> int | None:
    """The 1-based line of the key path ``where``, found by scanning headers and keys."""
    lines = text.splitlines()
    headers = _headers(lines)
    first_header = headers[0][0] if headers else len(lines)
    head = where[0]
    if head != "packages" or len(where) == 1:
        if head == "packages":
            for i, name, _ in headers:
                if name == "packages":
                    return i + 1
        return _find_key(lines, 0, first_header, str(head), where[1:])
    # packages[i]: the i-th [[packages]] header, up to the next one (or a top-level table)
    starts = [i for i, name, aot in headers if name == "packages" and aot]
    index = where[1]
    if not isinstance(index, int) or index >= len(starts):
        # an inline `packages = [...]` array: point at its key
        return _find_key(lines, 0, first_header, "packages", ())
    start = starts[index]
    end = len(lines)
    for i, name, _ in headers:
        if i > start and (name == "packages" or not name.startswith("packages.")):
            end = i
            break
    if len(where) == 2:
        return start + 1
    key, rest = str(where[2]), where[3:]
    # a sub-table of the package: [packages.key] or [[packages.key]] headers
    sub = [i for i, name, _ in headers if start < i < end and name == f"packages.{key}"]
    if sub:
        position = rest[0] if rest and isinstance(rest[0], int) else 0
        if position < len(sub):
            sub_end = next((i for i, _, _ in headers if i > sub[position]), end)
            inner = rest[1:] if rest and isinstance(rest[0], int) else rest
            if inner:
                found = _find_key(lines, sub[position] + 1, min(sub_end, end), str(inner[0]), ())
                if found:
                    return found
            return sub[position] + 1
    body_end = min([i for i, _, _ in headers if start < i < end] + [end])
    return _find_key(lines, start + 1, body_end, key, rest) or start + 1


def _find_key(lines: list[str], start: int, end: int, key: str, rest: Path_) -> int | None:
    pattern = _key_line(key)
    for i in range(start, end):
        if pattern.match(lines[i]):
            if rest and isinstance(rest[0], int):
                # the n-th element of a multi-line array: count lines that open an element
                if lines[i].rstrip().endswith("["):
                    count = -1
                    for j in range(i + 1, end):
                        stripped = lines[j].strip()
                        if stripped.startswith("]"):
                            break
                        if stripped and not stripped.startswith("#"):
                            count += 1
                            if count == rest[0]:
                                return j + 1
            return i + 1
    return None
