"""Requirements as users write them: PEP 508 specifiers, wheel paths and URLs, pip-style files.

``parse_requirement`` turns one line into a ``RequirementSpec``; ``parse_requirements_file``
reads a pip requirements file (``-r``/``-c`` nesting, ``--hash``, index options, line
continuations, comments, ``${VAR}`` expansion), as pip documents the format. Parsing is pure
apart from reading the files named; every error about a file carries its ``Location`` (path, line).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement as _PackagingInvalid
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from pyx_server.engine.errors import InvalidRequirement, Location, PyxError, RequirementsFileError

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
#: the start of a comment: ``#`` at the start of a line or after whitespace, as pip reads it.
#: One character of look-behind, so finding it is linear (``(^|\s+)#`` backtracks through a
#: run of blanks from every position in it: quadratic, 44 s for a line of 100,000 spaces).
_COMMENT = re.compile(r"(?:^|(?<=\s))#")
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class RequirementSpec:
    """One requirement: a name with specifiers/extras/marker, or a wheel at a URL or path."""

    requirement: Requirement
    #: where it was written, for messages: ``requirements.txt:3`` or ``command line``
    source: str
    #: allowed digests by algorithm, from ``--hash`` options or a URL fragment
    hashes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: a local wheel file, when the requirement named a path
    path: Path | None = None
    editable: bool = False

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def url(self) -> str | None:
        return self.requirement.url

    @property
    def pinned_version(self) -> Version | None:
        """The exact version for ``name==X`` (no wildcard), else None."""
        specs = list(self.requirement.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and not specs[0].version.endswith(".*"):
            try:
                return Version(specs[0].version)
            except ValueError:
                return None
        return None

    def __str__(self) -> str:
        return str(self.requirement)


@dataclass
class RequirementsFile:
    """Everything a requirements file (and the files it includes) said."""

    requirements: list[RequirementSpec] = field(default_factory=list)
    constraints: list[RequirementSpec] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    prerelease: bool = False

    def merge(self, other: RequirementsFile) -> None:
        self.requirements += other.requirements
        self.constraints += other.constraints
        self.index_url = other.index_url or self.index_url
        self.extra_index_urls += [u for u in other.extra_index_urls if u not in self.extra_index_urls]
        self.find_links += [u for u in other.find_links if u not in self.find_links]
        self.no_index = self.no_index or other.no_index
        self.prerelease = self.prerelease or other.prerelease


def parse_requirement(
    text: str,
    *,
    source: str = "command line",
    base_dir: Path | None = None,
    hashes: Mapping[str, tuple[str, ...]] | None = None,
) -> RequirementSpec:
    """Parse ``text``: a PEP 508 requirement, ``name @ url``, a wheel path or a wheel URL."""
    text = text.strip()
    base_dir = base_dir or Path.cwd()
    if not text:
        raise InvalidRequirement(f"empty requirement in {source}")
    hashes = dict(hashes or {})
    # a bare path or URL to a wheel (pip accepts both)
    if _looks_like_path_or_url(text):
        return _parse_path_or_url(text, source=source, base_dir=base_dir, hashes=hashes)
    try:
        req = Requirement(text)
    except _PackagingInvalid as exc:
        hint = "requirements look like `name`, `name==1.0`, `name[extra]>=1,<2`, or `name @ https://…/file.whl`"
        raise InvalidRequirement(
            f"`{text}` is not a valid requirement ({source}): {exc}",
            context={"source": source},
            hints=[hint],
        ) from None
    path = None
    if req.url:
        hashes.update(_fragment_hashes(req.url))
        if req.url.startswith("file:"):
            path = Path(unquote(urlsplit(req.url).path))
            if not path.is_absolute():
                path = (base_dir / path).resolve()
    return RequirementSpec(req, source, _freeze(hashes), path)


def _looks_like_path_or_url(text: str) -> bool:
    head = text.split(";", 1)[0].strip()
    if head.startswith(_URL_SCHEMES):
        return True
    if head.startswith((".", "/", "~")):
        return True
    if "@" in head:  # `name @ url` is PEP 508
        return False
    return os.sep in head or head.endswith((".whl", ".tar.gz", ".zip"))


def _parse_path_or_url(
    text: str, *, source: str, base_dir: Path, hashes: dict[str, tuple[str, ...]]
) -> RequirementSpec:
    location, _, marker = text.partition(";")
    location = location.strip()
    if location.startswith(_URL_SCHEMES) and not location.startswith("file:"):
        url = location
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        path = None
    else:
        raw = unquote(urlsplit(location).path) if location.startswith("file:") else location
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():
            path = (base_dir / path).resolve()
        if not path.exists():
            raise InvalidRequirement(f"`{location}` does not exist ({source})", context={"path": path})
        url = path.as_uri()
        filename = path.name
    hashes.update(_fragment_hashes(url))
    name = _name_of_location(location, filename, path, source)
    req_text = f"{name} @ {url}" + (f" ; {marker.strip()}" if marker.strip() else "")
    try:
        req = Requirement(req_text)
    except _PackagingInvalid as exc:
        raise InvalidRequirement(f"`{text}` is not a valid requirement ({source}): {exc}") from None
    return RequirementSpec(req, source, _freeze(hashes), path)


def _name_of_location(location: str, filename: str, path: Path | None, source: str) -> str:
    """The project name of a wheel, an sdist or a source tree named only by its location."""
    if path is not None and path.is_dir():
        name = project_name_of_tree(path)
        if name is None:
            raise InvalidRequirement(
                f"cannot tell the project name of the source tree `{location}` ({source})",
                hints=[f"write it as `name @ {location}`", "or give the tree a `[project] name` in pyproject.toml"],
            )
        return name
    if filename.endswith(".whl"):
        try:
            return parse_wheel_filename(filename)[0]
        except InvalidWheelFilename as exc:
            raise InvalidRequirement(f"`{filename}` is not a valid wheel file name ({source}): {exc}") from None
    if filename.endswith((".tar.gz", ".zip")):
        try:
            return parse_sdist_filename(filename)[0]
        except InvalidSdistFilename as exc:
            raise InvalidRequirement(f"`{filename}` is not a valid sdist file name ({source}): {exc}") from None
    raise InvalidRequirement(
        f"`{location}` is not a wheel, an sdist or a source tree ({source})",
        hints=["requirements look like `name==1.0`, `./dist/pkg-1.0-py3-none-any.whl`, `./pkg-1.0.tar.gz` or `./project/`"],
    )


def project_name_of_tree(path: Path) -> str | None:
    """``[project] name`` of a source tree's pyproject.toml (or ``setup.cfg``'s ``[metadata] name``)."""
    pyproject = path / "pyproject.toml"
    if pyproject.is_file():
        from pyx_server.engine.build.source import load_toml

        try:
            data = load_toml(pyproject.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - an unreadable pyproject just has no name to offer
            data = {}
        name = data.get("project", {}).get("name")
        if isinstance(name, str) and name.strip():
            return canonicalize_name(name)
    setup_cfg = path / "setup.cfg"
    if setup_cfg.is_file():
        import configparser

        parser = configparser.ConfigParser()
        try:
            parser.read(setup_cfg, encoding="utf-8")
            name = parser.get("metadata", "name", fallback=None)
        except configparser.Error:
            name = None
        if name:
            return canonicalize_name(name)
    return None


def _fragment_hashes(url: str) -> dict[str, tuple[str, ...]]:
    fragment = urlsplit(url).fragment
    found: dict[str, tuple[str, ...]] = {}
    for part in fragment.split("&"):
        algo, sep, value = part.partition("=")
        if sep and algo in ("sha256", "sha384", "sha512", "md5", "sha1", "sha224"):
            found[algo] = (value.lower(),)
    return found


def _freeze(hashes: Mapping[str, tuple[str, ...] | list[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in hashes.items()}


# -- requirements files --------------------------------------------------------------------


def parse_requirements_file(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    _seen: frozenset[Path] = frozenset(),
    _constraint: bool = False,
) -> RequirementsFile:
    """Read a pip requirements file and the files it includes with ``-r`` / ``-c``."""
    env = os.environ if env is None else env
    if str(path) == "-":  # `pyx pip compile -`: the requirements come on standard input
        import sys

        return _parse_text(sys.stdin.read(), Path("<stdin>"), Path.cwd(), env, _seen, _constraint)
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise RequirementsFileError(f"`{path}` includes itself (through `-r`)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RequirementsFileError(f"requirements file `{path}` does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsFileError(f"cannot read requirements file `{path}`: {exc}") from None
    return _parse_text(text, path, resolved.parent, env, _seen, _constraint, resolved)


def _parse_text(
    text: str,
    path: Path,
    base_dir: Path,
    env: Mapping[str, str],
    seen: frozenset[Path],
    constraint: bool,
    this_file: Path | None = None,
) -> RequirementsFile:
    result = RequirementsFile()
    for lineno, line in _logical_lines(text):
        where = f"{path}:{lineno}"
        line = _ENV_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), line)
        try:
            _parse_line(line, where, base_dir, env, result, this_file or path, seen, constraint)
        except (RequirementsFileError, InvalidRequirement) as exc:
            if exc.location is None:  # an error from a nested `-r` file keeps its own place
                _place(exc, Location(str(path), lineno), where)
            raise
    return result


def _place(error: PyxError, location: Location, where: str) -> None:
    """Give ``error`` its file location, and drop the `` (file:line)`` that ``parse_requirement``
    adds for its other callers (the command line, ``--with``): the message holds no location."""
    error.location = location
    error.message = error.message.replace(f" ({where})", "")
    error.args = (error.message,)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Join ``\\`` continuations and drop comments, keeping the first line number of each."""
    buffer: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = lineno
        line = _without_comment(raw)
        if line.endswith("\\"):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        joined = " ".join(part.strip() for part in buffer).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = " ".join(part.strip() for part in buffer).strip()
        if joined:
            yield start, joined


def _without_comment(raw: str) -> str:
    """``raw`` without its comment and the blanks before it (all of it for a comment line)."""
    found = _COMMENT.search(raw)
    return raw if found is None else raw[: found.start()].rstrip()


_VALUE_OPTIONS = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
    "-i": "index-url",
    "--index-url": "index-url",
    "--extra-index-url": "extra-index-url",
    "-f": "find-links",
    "--find-links": "find-links",
    "-e": "editable",
    "--editable": "editable",
    "--trusted-host": "ignored",
    "--only-binary": "ignored",
    "--no-binary": "ignored",
}
_FLAG_OPTIONS = {"--no-index": "no-index", "--pre": "pre", "--prefer-binary": "ignored", "--require-hashes": "ignored"}


def _parse_line(
    line: str,
    where: str,
    base_dir: Path,
    env: Mapping[str, str],
    result: RequirementsFile,
    this_file: Path,
    seen: frozenset[Path],
    constraint: bool,
) -> None:
    if line.startswith("-"):
        option, value = _split_option(line, where)
        kind = _VALUE_OPTIONS.get(option) or _FLAG_OPTIONS.get(option)
        if kind is None:
            raise RequirementsFileError(
                f"unknown option `{option}`",
                hints=["pyx reads pip's requirements file format; see `pip install --help` for its options"],
            )
        if option in _VALUE_OPTIONS and not value:
            raise RequirementsFileError(f"option `{option}` needs a value")
        if kind in ("requirement", "constraint"):
            nested = parse_requirements_file(
                _resolve_location(value, base_dir),
                env=env,
                _seen=seen | {this_file},
                _constraint=constraint or kind == "constraint",
            )
            if kind == "constraint":
                nested.constraints += nested.requirements
                nested.requirements = []
            result.merge(nested)
        elif kind == "index-url":
            result.index_url = value
        elif kind == "extra-index-url":
            result.extra_index_urls.append(value)
        elif kind == "find-links":
            result.find_links.append(
                value if value.startswith(_URL_SCHEMES) else str(_resolve_location(value, base_dir))
            )
        elif kind == "no-index":
            result.no_index = True
        elif kind == "pre":
            result.prerelease = True
        elif kind == "editable":
            result.requirements.append(parse_editable(value, source=where, base_dir=base_dir))
        return
    requirement_text, hashes = _split_hashes(line, where)
    spec = parse_requirement(requirement_text, source=where, base_dir=base_dir, hashes=hashes)
    (result.constraints if constraint else result.requirements).append(spec)


def _split_option(line: str, where: str) -> tuple[str, str]:
    if line.startswith("--") and "=" in line.split()[0]:
        option, _, value = line.partition("=")
        return option.strip(), value.strip()
    parts = line.split(None, 1)
    option = parts[0]
    value = parts[1].strip() if len(parts) > 1 else ""
    if option.startswith("-") and not option.startswith("--") and len(option) > 2:
        # -rfile.txt
        option, value = option[:2], option[2:] + ((" " + value) if value else "")
    return option, value


def _split_hashes(line: str, where: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    if "--hash" not in line:
        return line, {}
    head, _, tail = line.partition(" --hash")
    hashes: dict[str, list[str]] = {}
    try:
        tokens = shlex.split("--hash" + tail)
    except ValueError as exc:
        raise RequirementsFileError(f"cannot parse `{line}`: {exc}") from None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--hash" and i + 1 < len(tokens):
            value = tokens[i + 1]
            i += 2
        elif token.startswith("--hash="):
            value = token[len("--hash="):]
            i += 1
        else:
            raise RequirementsFileError(f"unexpected `{token}` after the requirement")
        algo, sep, digest = value.partition(":")
        if not sep or not re.fullmatch(r"[0-9a-fA-F]+", digest) or algo not in ("sha256", "sha384", "sha512"):
            raise RequirementsFileError(
                f"`--hash={value}` is not a valid hash",
                hints=["write hashes as `--hash=sha256:<64 hex digits>`"],
            )
        hashes.setdefault(algo, []).append(digest.lower())
    return head.strip(), {k: tuple(v) for k, v in hashes.items()}


def _resolve_location(value: str, base_dir: Path) -> Path:
    if value.startswith("file:"):
        return Path(unquote(urlsplit(value).path))
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base_dir / path


def apply_constraints(
    requirements: list[RequirementSpec], constraints: list[RequirementSpec]
) -> list[RequirementSpec]:
    """Narrow each requirement by the constraints (``-c``) on its name; constraints add nothing."""
    if not constraints:
        return requirements
    by_name: dict[str, list[RequirementSpec]] = {}
    for c in constraints:
        by_name.setdefault(c.name, []).append(c)
    narrowed = []
    for spec in requirements:
        extra = by_name.get(spec.name)
        if not extra or spec.url:
            narrowed.append(spec)
            continue
        req = Requirement(str(spec.requirement))
        for c in extra:
            if c.url:
                raise InvalidRequirement(
                    f"constraint `{c}` ({c.source}) names a URL; constraints restrict versions only"
                )
            req.specifier &= c.requirement.specifier
        narrowed.append(RequirementSpec(req, spec.source, spec.hashes, spec.path, spec.editable))
    return narrowed


def parse_editable(text: str, *, source: str = "command line", base_dir: Path | None = None) -> RequirementSpec:
    """``-e PATH`` (or ``-e name @ file:///path``): a source tree installed in editable mode."""
    text = text.strip()
    spec = parse_requirement(text, source=source, base_dir=base_dir)
    if spec.path is None or not spec.path.is_dir():
        raise InvalidRequirement(
            f"`-e {text}` must name a local source tree ({source})",
            hints=["editable installs work from a project directory, for example `-e .`"],
        )
    return RequirementSpec(spec.requirement, spec.source, spec.hashes, spec.path, editable=True)
