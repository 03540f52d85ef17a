"""The benchmarked tools (pyx, uv, pip): how each creates a venv, installs a lock, resolves an input, and where it is found."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from measure import isolated_env

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PYX = REPO / ".venv" / "bin" / "pyx"


class Unsupported(Exception):
    """A tool has no command for a scenario; the cell is reported as n/a, not as a failure."""


@dataclass
class Tool:
    """One tool under test. `problem` is set when it cannot run here (missing, not ready yet)."""

    name: str
    exe: Path | None
    version: str = "unknown"
    problem: str | None = None
    note: str = ""
    resolve_note: str = ""
    no_compile: str | None = None  # why the tool cannot resolve here (None when it can)
    cache_variable = ""  # the environment variable naming the tool's cache ("" if it takes a flag)
    data_variable = ""  # the variable naming where the tool stores script/notebook environments ("" if none)
    # True when the tool has no notebook environments of its own and the notebook scenario builds
    # one as `venv` + `pip sync` of the workload's pinned lock instead (uv)
    notebook_via_venv = False

    @property
    def available(self) -> bool:
        """True when the tool can be run at all."""
        return self.exe is not None and self.problem is None

    def env(self, cache: Path, data: Path | None = None) -> dict[str, str]:
        """The isolated environment with this tool's cache pointed at `cache` (and its data dir at `data`)."""
        extra = {self.cache_variable: str(cache)} if self.cache_variable else {}
        if data is not None and self.data_variable:
            extra[self.data_variable] = str(data)
        return isolated_env(extra or None)

    def venv_argv(self, venv: Path, python: Path) -> list[str]:
        """Command creating an empty virtual environment at `venv` (not timed)."""
        raise NotImplementedError

    def sync_argv(self, lock: Path, venv: Path, cache: Path, offline: bool = False) -> list[str]:
        """Command installing exactly the pins of `lock` into `venv` (the timed step).

        `offline` forbids network access, so a no-op measures the tool, not index revalidation.
        """
        raise NotImplementedError

    def compile_argv(self, requirements: Path, output: Path, python: Path, venv: Path, cache: Path) -> list[str]:
        """Command resolving `requirements` for `python` and writing the pins to `output` (the timed step).

        `venv` is an untimed venv built on `python`, for a tool that resolves from inside one (pip).
        """
        raise Unsupported(f"{self.name} has no resolve command")

    def needs_venv_to_resolve(self) -> bool:
        """True when `compile_argv` runs from a venv the harness must create first (pip)."""
        return False

    def run_argv(self, script: Path, python: Path) -> list[str]:
        """Command running `script` in the environment its PEP 723 metadata declares (synced first)."""
        raise Unsupported(f"{self.name} has no command that runs a script in the environment its inline metadata declares")

    def notebook_lock_argv(self, notebook: Path, python: Path) -> list[str]:
        """Command locking a notebook's PEP 723 dependencies into the notebook itself (untimed set-up)."""
        raise Unsupported(f"{self.name} has no environment for a notebook's inline metadata")

    def notebook_sync_argv(self, notebook: Path, python: Path) -> list[str]:
        """Command building the environment of a locked notebook (the timed step)."""
        raise Unsupported(f"{self.name} has no environment for a notebook's inline metadata")

    def read_pins(self, output: Path) -> list[tuple[str, str]]:
        """The (name, version) pairs a resolve wrote to `output` (a requirements file here).

        Names keep their spelling and may carry extras (`bleach[css]`); `normalized_pins`
        compares them.
        """
        pins = []
        for line in output.read_text().splitlines():
            text = line.split("#", 1)[0].split(";", 1)[0].strip()
            if not text or text.startswith("-") or "==" not in text:
                continue
            name, _, version = text.partition("==")
            pins.append((name.strip(), version.strip()))
        return pins

    def describe(self) -> dict[str, str]:
        """The command templates, for the results file and the README."""
        v, py, lock, cache = Path("V"), Path("PYTHON"), Path("LOCK"), Path("CACHE")
        venv = " ".join(self.venv_argv(v, py)).replace(str(self.exe), self.name)
        sync = " ".join(self.sync_argv(lock, v, cache)).replace(str(self.exe), self.name)
        if self.cache_variable:
            sync = f"{self.cache_variable}=CACHE {sync}"
        commands = {"venv": venv, "install": sync}
        prefix = f"{self.cache_variable}=CACHE " if self.cache_variable else ""
        data = f"{self.data_variable}=DATA " if self.data_variable else ""
        try:
            resolve = " ".join(self.compile_argv(Path("IN"), Path("OUT"), py, v, cache)).replace(str(self.exe), self.name)
            commands["resolve"] = prefix + resolve
        except Unsupported:
            pass
        try:
            run = " ".join(self.run_argv(Path("SCRIPT"), py)).replace(str(self.exe), self.name)
            commands["run"] = prefix + data + run
        except Unsupported:
            pass
        if self.notebook_via_venv:
            commands["notebook"] = f"{venv} (untimed), then {sync}"
        else:
            try:
                nb = Path("NB")
                lock = " ".join(self.notebook_lock_argv(nb, py)).replace(str(self.exe), self.name)
                nbsync = " ".join(self.notebook_sync_argv(nb, py)).replace(str(self.exe), self.name)
                commands["notebook"] = f"{prefix}{lock} (untimed), then {prefix}{data}{nbsync} (fresh DATA)"
            except Unsupported:
                pass
        return commands


class Pyx(Tool):
    """pyx from the repository's dev venv: `pyx venv` + `pyx pip sync`; `pyx run`, `pyx lock`/`sync --notebook`."""

    cache_variable = "PYX_CACHE_DIR"
    data_variable = "PYX_DATA_DIR"

    def venv_argv(self, venv: Path, python: Path) -> list[str]:
        return [str(self.exe), "venv", str(venv), "--python", str(python)]

    def sync_argv(self, lock: Path, venv: Path, cache: Path, offline: bool = False) -> list[str]:
        argv = [str(self.exe), "pip", "sync", str(lock), "--python", str(venv / "bin" / "python")]
        return argv + ["--offline"] if offline else argv

    def compile_argv(self, requirements: Path, output: Path, python: Path, venv: Path, cache: Path) -> list[str]:
        if self.no_compile:
            raise Unsupported(self.no_compile)
        return [str(self.exe), "pip", "compile", str(requirements), "-o", str(output), "--python", str(python)]

    def run_argv(self, script: Path, python: Path) -> list[str]:
        # options before the script: what follows the script is the script's own arguments
        return [str(self.exe), "run", "--python", str(python), str(script)]

    def notebook_lock_argv(self, notebook: Path, python: Path) -> list[str]:
        return [str(self.exe), "lock", "--notebook", str(notebook), "--python", str(python)]

    def notebook_sync_argv(self, notebook: Path, python: Path) -> list[str]:
        return [str(self.exe), "sync", "--notebook", str(notebook), "--python", str(python)]


class Uv(Tool):
    """uv: `uv venv` + `uv pip sync` and `uv run --script`, the reference pyx is measured against."""

    cache_variable = "UV_CACHE_DIR"
    notebook_via_venv = True

    def venv_argv(self, venv: Path, python: Path) -> list[str]:
        return [str(self.exe), "venv", str(venv), "--python", str(python)]

    def sync_argv(self, lock: Path, venv: Path, cache: Path, offline: bool = False) -> list[str]:
        argv = [str(self.exe), "pip", "sync", str(lock), "--python", str(venv / "bin" / "python")]
        return argv + ["--offline"] if offline else argv

    def compile_argv(self, requirements: Path, output: Path, python: Path, venv: Path, cache: Path) -> list[str]:
        return [str(self.exe), "pip", "compile", str(requirements), "-o", str(output), "--python", str(python)]

    def run_argv(self, script: Path, python: Path) -> list[str]:
        return [str(self.exe), "run", "--python", str(python), "--script", str(script)]


class Pip(Tool):
    """pip as bundled in a fresh `python -m venv`; it resolves the lock instead of taking the pins."""

    def venv_argv(self, venv: Path, python: Path) -> list[str]:
        return [str(python), "-m", "venv", str(venv)]

    def sync_argv(self, lock: Path, venv: Path, cache: Path, offline: bool = False) -> list[str]:
        argv = [str(venv / "bin" / "pip"), "install", "-r", str(lock), "--cache-dir", str(cache)]
        return argv + ["--no-index"] if offline else argv

    def compile_argv(self, requirements: Path, output: Path, python: Path, venv: Path, cache: Path) -> list[str]:
        """pip has no compile: `install --dry-run --report` resolves and writes the result as JSON.

        `--ignore-installed` makes it resolve everything, not only what the venv lacks.
        """
        return [str(venv / "bin" / "pip"), "install", "--dry-run", "--ignore-installed", "--report", str(output),
                "-r", str(requirements), "--cache-dir", str(cache)]

    def needs_venv_to_resolve(self) -> bool:
        return True

    def read_pins(self, output: Path) -> list[tuple[str, str]]:
        """The `install` entries of pip's installation report (JSON, version 1)."""
        report = json.loads(output.read_text())
        return [(item["metadata"]["name"], item["metadata"]["version"]) for item in report.get("install", [])]

    def describe(self) -> dict[str, str]:
        return {
            "venv": "PYTHON -m venv V",
            "install": "V/bin/pip install -r LOCK --cache-dir CACHE",
            "resolve": "V/bin/pip install --dry-run --ignore-installed --report OUT -r IN --cache-dir CACHE",
        }


def _output(argv: list[str], timeout: float = 60) -> tuple[int, str]:
    """Exit code and combined output of a quick helper command (versions, --help probes)."""
    try:
        done = subprocess.run(
            argv, env=isolated_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def find_python(spec: str) -> Path:
    """The real interpreter behind `spec` (a name on PATH or a path), resolving pyenv-style shims.

    Every tool gets this same interpreter, so the venvs differ only by who built them.
    """
    found = shutil.which(spec) or spec
    code, out = _output([found, "-c", "import sys; print(sys.executable)"])
    if code != 0 or not out:
        raise SystemExit(f"bench: cannot run the target interpreter `{spec}`: {out}")
    return Path(out.splitlines()[-1])


def find_pyx(path: str | None) -> Pyx:
    """pyx at `path` (default: the dev venv's script), marked unavailable until its commands work."""
    exe = Path(path) if path else DEFAULT_PYX
    tool = Pyx("pyx", exe, note="installs the pins as given",
               resolve_note="reads a candidate's metadata from the index's metadata file, else from the wheel's zip directory by HTTP range requests")
    if not exe.exists():
        tool.problem = f"`{exe}` does not exist"
        return tool
    for probe in (["pip", "sync", "--help"], ["venv", "--help"]):
        code, out = _output([str(exe), *probe])
        if code != 0:
            first = out.splitlines()[0] if out else ""
            tool.problem = f"`pyx {' '.join(probe)}` exited {code}: {first}"
            return tool
    code, out = _output([str(exe), "pip", "compile", "--help"])
    if code != 0:
        first = out.splitlines()[0] if out else ""
        tool.no_compile = f"`pyx pip compile --help` exited {code}: {first}"
    code, out = _output([str(exe), "--version"])
    tool.version = out.split()[-1] if code == 0 and out else "unknown"
    _compile_bytecode(exe)
    return tool


def _compile_bytecode(exe: Path) -> None:
    """Byte-compile the pyx package behind `exe`, as installing its wheel with pip would.

    An editable dev install has no `.pyc` files, and with `PYTHONDONTWRITEBYTECODE` set
    (as on this project's machines) Python never writes them: every run would recompile
    pyx from source and the benchmark would time the compiler, not pyx.
    """
    first = exe.read_bytes().split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        return
    python = first[2:].decode().strip()
    _output([python, "-c", "import compileall, os, pyx_server; "
             "compileall.compile_dir(os.path.dirname(pyx_server.__file__), quiet=1)"])


def find_uv(path: str | None) -> Uv:
    """uv from `--uv`, else PATH, else next to the interpreter running the harness (a bench venv)."""
    candidates = [path] if path else [
        shutil.which("uv"),
        str(Path(sysconfig.get_path("scripts")) / "uv"),
        str(Path(sys.executable).parent / "uv"),
    ]
    tool = Uv("uv", None, note="installs the pins as given",
              resolve_note="reads a candidate's metadata from the index's metadata file, else from the wheel's "
                           "zip directory by HTTP range requests")
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            tool.exe = Path(candidate)
            break
    if tool.exe is None:
        tool.problem = "uv not found (pass --uv PATH or install it into the bench venv)"
        return tool
    code, out = _output([str(tool.exe), "--version"])
    if code != 0:
        tool.problem = f"`{tool.exe} --version` exited {code}: {out}"
    else:
        tool.version = out.split()[1]
    return tool


def find_pip(python: Path) -> Pip:
    """pip as `python -m venv` seeds it: the version is the interpreter's bundled (ensurepip) pip."""
    tool = Pip(
        "pip", python, note="resolves the lock's dependencies (no pinned-sync mode)",
        resolve_note="has no compile: `install --dry-run --report` resolves, downloading each candidate's whole "
                     "wheel (or sdist) to read its metadata",
    )
    code, out = _output([str(python), "-c", "import ensurepip; print(ensurepip.version())"])
    if code != 0:
        tool.problem = f"the interpreter `{python}` has no ensurepip: {out}"
    else:
        tool.version = out.splitlines()[-1]
    return tool
