"""Which indexes to use: pyx's flags and environment, then pip's configuration, then pip's default.

Each setting is decided on its own, by the first source that gives it (as pip does per
option)::

    explicit arguments (CLI flags)
    > PYX_INDEX_URL, PYX_EXTRA_INDEX_URL, PYX_FIND_LINKS, PYX_NO_INDEX, PYX_OFFLINE,
      PYX_INDEX_STRATEGY
    > PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX, PIP_CERT
    > pip's configuration files ([install] over [global]; later files over earlier ones)
    > pip's built-in default index (read from pip at run time, never spelled here)

As uv does, the extra indexes come *before* the main index in ``IndexSettings.indexes``:
with the default "first-index" strategy a name found on a private extra index can never
be taken over by a same-named project on the public default index (dependency confusion).

This module is on the CLI's fast path: it imports neither httpx nor pip at module level.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pyx_server.engine.errors import ConfigError

STRATEGIES = ("first-index", "unsafe-first-match", "unsafe-best-match")

_TRUE = {"1", "y", "yes", "t", "true", "on"}
_FALSE = {"0", "n", "no", "f", "false", "off", ""}


@dataclass(frozen=True)
class IndexSettings:
    """The resolved index configuration every index client is built from."""

    #: priority order (extras first, then the main index): the first index that knows a name wins
    indexes: tuple[str, ...]
    #: flat directories (``file://`` URLs) or HTML pages (``http(s)://``)
    find_links: tuple[str, ...]
    #: "first-index" | "unsafe-first-match" | "unsafe-best-match" (uv's spelling)
    strategy: str = "first-index"
    offline: bool = False
    #: a CA bundle (pip's ``cert``, ``PIP_CERT``, ``SSL_CERT_FILE``); None = the system default
    cert: str | None = None
    #: packages that must come from particular indexes only (uv's ``[tool.uv.sources]``
    #: ``name = { index = "…" }``): normalized name → index URLs, in order
    pinned: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def indexes_for(self, name: str) -> tuple[str, ...]:
        """The indexes to ask for ``name``: its pinned ones, else every configured index."""
        for pinned_name, urls in self.pinned:
            if pinned_name == name:
                return urls
        return self.indexes

    def find_links_for(self, name: str) -> tuple[str, ...]:
        """The find-links locations for ``name``: none for a package pinned to an index.

        A package routed to one index (a PyTorch variant index, say) takes its files from that
        index only: a ``torch+cpu`` wheel lying in a find-links directory must not replace the
        CUDA build the file asks for, and ``uv run`` on the same file would not use it either.
        """
        return () if any(pinned_name == name for pinned_name, _ in self.pinned) else self.find_links


def _layered_list(
    given: Sequence[str], flag: str, suffix: str, pip_key: str, env: Mapping[str, str], pipconf: Mapping
) -> list[tuple[str, str]]:
    """A list setting with its source: the flag, else ``PYX_<suffix>``, else ``PIP_<suffix>``,
    else pip's config files (space-separated in the environment and the files)."""
    if given:
        return [(u, f"`{flag}`") for u in given]
    for key in (f"PYX_{suffix}", f"PIP_{suffix}"):
        if env.get(key, "").strip():
            return [(u, f"`{key}`") for u in env[key].split()]
    found = pipconf.get(pip_key)
    if found is not None:
        return [(u, found[1]) for u in found[0].split()]
    return []


def redact_url(url: str) -> str:
    """``url`` with any userinfo (``user:password@`` or a bare token ``tok@``) replaced by ``****@``.

    Every URL that reaches a message, an event, an exception or a cache key goes through
    this first, so credentials never leave the HTTP layer.
    """
    return _replace_userinfo(url, "****@")


def strip_credentials(url: str) -> str:
    """``url`` without its userinfo: the form that is stored and fetched (credentials live apart)."""
    return _replace_userinfo(url, "")


def _replace_userinfo(url: str, replacement: str) -> str:
    """``url`` with its userinfo (up to the last ``@`` of the host part) replaced; an
    unparsable URL, or one without userinfo, as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=replacement + parts.netloc.rpartition("@")[2]))


def default_index_url() -> str:
    """pip's built-in default simple index, read from the installed pip so no host is hard-coded."""
    try:
        from pip._internal.models.index import PyPI
    except Exception as exc:  # pragma: no cover - pip is a declared dependency
        raise ConfigError(
            "no index is configured and pip's default index could not be read",
            context={"error": str(exc)},
            hints=["set `PYX_INDEX_URL` or pass `--index-url`"],
        ) from exc
    return str(PyPI.simple_url)


def resolve_index_settings(
    *,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
    offline: bool = False,
    strategy: str | None = None,
    env: Mapping[str, str] | None = None,
) -> IndexSettings:
    """Combine flags, pyx's and pip's environment and pip's config files into ``IndexSettings``.

    Each setting comes from the highest-priority source that sets it (see the module
    docstring). Bad values raise ``ConfigError`` naming the value and its source.
    """
    env = os.environ if env is None else env
    pipconf = _PipConfig.load(env)

    # -- main index -----------------------------------------------------------------
    main: tuple[str, str] | None = None
    if index_url:
        main = (index_url, "`--index-url`")
    elif env.get("PYX_INDEX_URL"):
        main = (env["PYX_INDEX_URL"], "`PYX_INDEX_URL`")
    elif env.get("PIP_INDEX_URL"):
        main = (env["PIP_INDEX_URL"], "`PIP_INDEX_URL`")
    elif (found := pipconf.get("index-url")) is not None:
        main = found

    # -- extra indexes and find-links: lists, with the same precedence --------------------
    extras = _layered_list(extra_index_urls, "--extra-index-url", "EXTRA_INDEX_URL", "extra-index-url", env, pipconf)
    links = _layered_list(find_links, "--find-links", "FIND_LINKS", "find-links", env, pipconf)

    # -- switches -----------------------------------------------------------------------
    use_no_index = no_index or _first_bool(
        (env.get("PYX_NO_INDEX"), "`PYX_NO_INDEX`"),
        (env.get("PIP_NO_INDEX"), "`PIP_NO_INDEX`"),
        pipconf.get("no-index"),
    )
    use_offline = offline or _first_bool((env.get("PYX_OFFLINE"), "`PYX_OFFLINE`"))

    chosen_strategy, strategy_source = (strategy, "`--index-strategy`")
    if not strategy:
        chosen_strategy, strategy_source = (
            env.get("PYX_INDEX_STRATEGY") or "first-index",
            "`PYX_INDEX_STRATEGY`",
        )
    if chosen_strategy not in STRATEGIES:
        raise ConfigError(
            f"unknown index strategy `{chosen_strategy}` from {strategy_source}",
            context={"value": chosen_strategy, "source": strategy_source},
            hints=["use one of " + ", ".join(f"`{s}`" for s in STRATEGIES)],
        )

    cert: str | None = None
    cert_source = ""
    if env.get("PIP_CERT"):
        cert, cert_source = env["PIP_CERT"], "`PIP_CERT`"
    elif (found := pipconf.get("cert")) is not None:
        cert, cert_source = found
    elif env.get("SSL_CERT_FILE"):
        cert, cert_source = env["SSL_CERT_FILE"], "`SSL_CERT_FILE`"
    if cert is not None:
        cert_path = Path(cert).expanduser()
        if not cert_path.is_file():
            raise ConfigError(
                f"CA bundle `{cert}` from {cert_source} does not exist",
                context={"value": cert, "source": cert_source},
                hints=["point it at a PEM file of certificates, or unset it"],
            )
        cert = str(cert_path.absolute())

    # -- assemble -----------------------------------------------------------------------
    indexes: list[str] = []
    if not use_no_index:
        ordered = list(extras) + [main if main is not None else (default_index_url(), "pip's default")]
        for value, source in ordered:
            url = _normalize_location(value, source, kind="index URL", want_dir=True)
            if url not in indexes:
                indexes.append(url)
    flat: list[str] = []
    for value, source in links:
        url = _normalize_location(value, source, kind="find-links location", want_dir=False)
        if url not in flat:
            flat.append(url)
    return IndexSettings(
        indexes=tuple(indexes),
        find_links=tuple(flat),
        strategy=chosen_strategy,
        offline=use_offline,
        cert=cert,
    )


def _normalize_location(value: str, source: str, *, kind: str, want_dir: bool) -> str:
    """An http(s)/file URL as given, or an existing local path as a ``file://`` URL."""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme in ("http", "https") and parts.hostname:
        return value
    if parts is not None and parts.scheme == "file":
        return value
    path = Path(value).expanduser()
    if value and (path.is_dir() or (not want_dir and path.is_file())):
        return path.absolute().as_uri()
    shown = redact_url(value)
    raise ConfigError(
        f"invalid {kind} `{shown}` from {source}: not a URL nor an existing "
        + ("directory" if want_dir else "path"),
        context={"value": shown, "source": source},
        hints=["use an `https://` or `file://` URL, or the path of an existing directory"],
    )


def _parse_bool(value: str, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        f"invalid boolean `{value}` from {source}",
        context={"value": value, "source": source},
        hints=["use `1`/`true`/`yes` or `0`/`false`/`no`"],
    )


def _first_bool(*candidates: tuple[str | None, str] | None) -> bool:
    """The first candidate ``(raw value, source label)`` that is set, as a bool; else False."""
    for candidate in candidates:
        if candidate is not None and candidate[0] is not None:
            return _parse_bool(candidate[0], candidate[1])
    return False


# -- pip's configuration files ----------------------------------------------------------


def pip_config_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files that apply, lowest priority first (pip's own override order).

    global < user < site < ``PIP_CONFIG_FILE``; the user files are skipped when
    ``PIP_CONFIG_FILE`` names an existing file, and ``PIP_CONFIG_FILE=os.devnull`` disables
    every file, exactly as pip does.
    """
    env = os.environ if env is None else env
    env_file = env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    global_files, user_files, site_files = _pip_locations(env)
    files: list[str] = list(global_files)
    if not (env_file and os.path.exists(env_file)):
        files += user_files
    files += site_files
    if env_file:
        files.append(env_file)
    return [Path(f) for f in files]


def pip_config_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Every path pip could read configuration from, present or not (a change to any of
    them can change the indexes): what ``pyx run``'s stamps watch."""
    env = os.environ if env is None else env
    if env.get("PIP_CONFIG_FILE") == os.devnull:
        return []  # pip reads no file at all (and /dev/null's mtime moves with every write)
    global_files, user_files, site_files = _pip_locations(env)
    extra = [env["PIP_CONFIG_FILE"]] if env.get("PIP_CONFIG_FILE") else []
    return [Path(f) for f in [*global_files, *user_files, *site_files, *extra]]


def _pip_locations(env: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(global, user, site) config paths, from pip's own directory logic when importable."""
    basename = "pip.ini" if sys.platform == "win32" else "pip.conf"
    legacy = os.path.join(os.path.expanduser("~"), "pip" if sys.platform == "win32" else ".pip", basename)
    site = [os.path.join(sys.prefix, basename)]
    try:
        # pip's small directory helper (the full pip._internal.configuration costs ~0.2 s to import)
        from pip._internal.utils import appdirs as pip_appdirs

        global_dirs = pip_appdirs.site_config_dirs("pip")
        user_dir = pip_appdirs.user_config_dir("pip")
    except Exception:  # pragma: no cover - fallback to pip's documented locations
        if sys.platform == "win32":
            global_dirs = [os.path.join(env.get("PROGRAMDATA", r"C:\ProgramData"), "pip")]
            user_dir = os.path.join(env.get("APPDATA", os.path.expanduser("~")), "pip")
        elif sys.platform == "darwin":
            global_dirs = ["/Library/Application Support/pip"]
            user_dir = os.path.expanduser("~/.config/pip")
        else:
            xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
            global_dirs = [os.path.join(d, "pip") for d in xdg_dirs.split(os.pathsep)] + ["/etc"]
            user_dir = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "pip")
    return [os.path.join(d, basename) for d in global_dirs], [legacy, os.path.join(user_dir, basename)], site


@dataclass
class _PipConfig:
    """Values of pip's config files for the ``install`` command: key → (value, source label)."""

    values: dict[str, tuple[str, str]]

    @classmethod
    def load(cls, env: Mapping[str, str]) -> _PipConfig:
        merged: dict[tuple[str, str], tuple[str, str]] = {}
        for path in pip_config_files(env):
            for section, key, value in _read_pip_file(path):
                merged[(section, key)] = (value, f"`{key}` in `{path}`")
        values: dict[str, tuple[str, str]] = {}
        for section in ("global", "install"):  # [install] overrides [global], as for `pip install`
            for (sec, key), found in merged.items():
                if sec == section:
                    values[key] = found
        return cls(values)

    def get(self, key: str) -> tuple[str, str] | None:
        return self.values.get(key)


def _read_pip_file(path: Path) -> Iterable[tuple[str, str, str]]:
    if not path.is_file():
        return []
    import configparser  # only when a file exists: keeps the CLI's fast path lean

    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"could not read pip configuration file `{path}`",
            context={"path": str(path)},
            hints=["fix the file, or set `PIP_CONFIG_FILE` to another file"],
            detail=str(exc),
        ) from exc
    out = []
    for section in parser.sections():
        for name, value in parser.items(section):
            key = name.lower().replace("_", "-")
            if key.startswith("--"):
                key = key[2:]
            out.append((section.lower(), key, value))
    return out
