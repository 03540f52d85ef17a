"""Run stamps: what lets ``pyx run script.py`` start the script at once when nothing changed.

``pyx run`` syncs the script's environment every time, so its cost when nothing changed is
the whole of what a user waits for. The full check (read the PEP 723 block with
``packaging``, find and query the interpreter, read pip's configuration, hash the
declaration) costs about 100 ms of imports in Python; uv does the same in 20 ms. A run
stamp memoizes that check: after the full path has found (or built) the environment, it
records every input the answer depended on. The next ``pyx run`` compares those inputs,
with nothing but ``os`` and ``json``, and starts the environment's interpreter when they
all hold. Anything unexpected is a miss, never an error: the full path runs and writes a
new stamp.

The inputs: the script's path, the working directory, the ``run`` options given, the
environment variables that configuration and interpreter discovery read, the script's
comment lines (a PEP 723 block is made of comment lines only, so any change to the
metadata changes them; editing code leaves them alone), and the size and mtime (or
absence) of every file consulted: the lock beside the script, pip's configuration files,
pyenv's version files, the interpreter, and the environment's completion marker.

Stamps live in ``runs-v1/`` of the pyx data directory. Finding that directory through
``platformdirs`` costs 17 ms of imports, more than the rest of the check; the fast path
therefore looks where platformdirs puts it on Linux and macOS (``PYX_DATA_DIR`` first) and
trusts a stamp only if the full path, which asked platformdirs, recorded that same
directory. Elsewhere the stamp is simply never found, and ``pyx run`` takes the full path.

This module is imported before anything else of pyx on every ``pyx run``: it imports only
the standard library's ``os``, ``sys``, ``json`` and ``zlib``.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections.abc import Mapping, Sequence

FORMAT = 1
BUCKET = "runs-v1"
#: ``run`` options that do not change which environment a script gets, besides ``--python``
_QUIET = ("-q", "--quiet")
_PYTHON = ("-p", "--python")
_SUFFIXES = (".py", ".pyw")
#: environment variables read by configuration (pip's and pyx's), interpreter discovery
#: (PATH, pyenv) and the data directory (platformdirs)
_VARIABLE_PREFIXES = ("PYX_", "PIP_", "PYENV", "XDG_")
_VARIABLES = ("PATH", "HOME", "SSL_CERT_FILE", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA", "USERPROFILE")


def parse_run_argv(argv: Sequence[str]) -> tuple[list[str], str, list[str]] | None:
    """Split ``run``'s arguments into (options, script, script arguments), or None.

    None unless the form is the plain one the stamp covers: options among ``-q`` and
    ``--python X`` only, then a ``.py``/``.pyw`` script. Anything else (``--with``,
    ``--locked``, index options, a command) always takes the full path.
    """
    options: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _QUIET:
            options.append(token)
        elif token in _PYTHON and i + 1 < len(argv):
            options += [token, argv[i + 1]]
            i += 1
        elif token.startswith("--python="):
            options.append(token)
        elif token.startswith("-"):
            return None
        else:
            rest = list(argv[i + 1:])
            if not token.endswith(_SUFFIXES) or "--" in rest:
                return None  # argparse drops a `--` from the script's arguments: leave that to it
            return options, token, rest
        i += 1
    return None


def fast_data_dirs(env: Mapping[str, str]) -> list[str]:
    """Where the pyx data directory is likely to be, found without importing platformdirs."""
    if env.get("PYX_DATA_DIR"):
        return [os.path.abspath(os.path.expanduser(env["PYX_DATA_DIR"]))]
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return [os.path.join(home, "Library", "Application Support", "pyx")]
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        xdg = env.get("XDG_DATA_HOME", "").strip()
        return [os.path.join(xdg or os.path.join(home, ".local", "share"), "pyx")]
    return []


def _variables(env: Mapping[str, str]) -> dict[str, str]:
    found = {k: v for k, v in env.items() if k.startswith(_VARIABLE_PREFIXES) or k in _VARIABLES}
    found["uid"] = str(os.getuid()) if hasattr(os, "getuid") else ""
    return found


def _file_state(path: str) -> list:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, st.st_mtime_ns, st.st_size]


def comment_lines(text: str) -> str:
    """Every line of a script that starts with ``#``: all a PEP 723 block can be made of."""
    return "\n".join(line for line in text.splitlines() if line.startswith("#"))


def _stamp_file(data_dir: str, script: str) -> str:
    data = script.encode("utf-8", "surrogateescape")
    name = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}.json"
    return os.path.join(data_dir, BUCKET, name)


def _read_script(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def ready_python(argv: Sequence[str], env: Mapping[str, str], cwd: str, version: str) -> tuple[str, str, list[str]] | None:
    """(interpreter, script, script arguments) when a stamp says the environment is ready.

    ``argv`` are the arguments after ``run``. The stamp's environment marker is touched, as
    the full path does, so the environment store's collector sees the environment used.
    """
    parsed = parse_run_argv(argv)
    if parsed is None:
        return None
    options, script_arg, rest = parsed
    script = os.path.normpath(os.path.join(cwd, script_arg))
    for data_dir in fast_data_dirs(env):
        try:
            with open(_stamp_file(data_dir, script), "rb") as f:
                stamp = json.loads(f.read())
        except (OSError, ValueError):
            continue
        if not isinstance(stamp, dict) or stamp.get("data_dir") != data_dir:
            continue
        expected = {"format": FORMAT, "pyx": version, "script": script, "cwd": cwd, "options": options,
                    "variables": _variables(env)}
        if any(stamp.get(k) != v for k, v in expected.items()):
            return None
        files = stamp.get("files")
        if not isinstance(files, list) or any(not isinstance(f, list) or not f or _file_state(f[0]) != f for f in files):
            return None
        text = _read_script(script)
        if text is None or comment_lines(text) != stamp.get("comments"):
            return None
        python, marker = stamp.get("python"), stamp.get("marker")
        if not isinstance(python, str) or not isinstance(marker, str):
            return None
        try:
            os.utime(marker)
        except OSError:
            return None
        return python, script_arg, rest
    return None


def record(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    version: str,
    data_dir: str,
    python: str,
    marker: str,
    files: Sequence[str],
) -> str | None:
    """Write the stamp for a ``run`` whose environment the full path just found ready.

    ``files`` are the paths whose content the answer depended on; their state is read now.
    The environment's ``marker`` must still exist when the stamp is used. Returns the stamp's path, or None when ``argv`` is not a form
    stamps cover or the stamp cannot be written (a stamp is an optimisation only).
    """
    parsed = parse_run_argv(argv)
    if parsed is None:
        return None
    options, script_arg, _ = parsed
    script = os.path.normpath(os.path.join(cwd, script_arg))
    text = _read_script(script)
    if text is None:
        return None
    stamp = {
        "format": FORMAT,
        "pyx": version,
        "script": script,
        "cwd": cwd,
        "options": options,
        "variables": _variables(env),
        "data_dir": data_dir,
        "comments": comment_lines(text),
        # the marker is not among them: every use touches it (checked by ``os.utime`` instead)
        "files": [_file_state(p) for p in dict.fromkeys(files) if p != marker],
        "python": python,
        "marker": marker,
    }
    path = _stamp_file(data_dir, script)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(stamp, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return None
    return path


def prune(data_dir: str) -> list[str]:
    """Remove stamps whose environment is gone (the collector calls this after removing some)."""
    removed: list[str] = []
    directory = os.path.join(data_dir, BUCKET)
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                marker = json.loads(f.read()).get("marker")
        except (OSError, ValueError, AttributeError):
            marker = None
        if not isinstance(marker, str) or not os.path.exists(marker):
            try:
                os.unlink(path)
            except OSError:
                continue
            removed.append(path)
    return removed
