"""Calling a PEP 517 / 660 backend's hooks in a build environment's python, and explaining failures.

``pyproject_hooks`` (the library pip and ``build`` use) speaks the hook protocol: it starts
``<env python> _in_process.py <hook> <control dir>`` in the source tree and reads the answer
back. pyx gives it its own subprocess runner, which

* runs the child with a clean environment: no ``PIP_*`` / ``PYX_*`` variables (the user's
  index and pyx's own settings are not the backend's business), no ``PYTHONPATH`` /
  ``PYTHONHOME``, ``PYTHONNOUSERSITE=1`` (the user's site-packages stay out),
  ``VIRTUAL_ENV`` and ``PATH`` pointing at the build environment (so a backend finds the
  ``cmake`` / ``ninja`` / ``cython`` scripts of its build requirements), and
  ``PIP_NO_INDEX=1`` so that a backend that shells out to pip for more packages (setuptools'
  ``setup_requires``) fails instead of reaching the network behind pyx's back;
* captures stdout and stderr together (they interleave the way the user would have seen
  them) and keeps them, so a failure can show the last lines;
* stops the child after ``BUILD_TIMEOUT`` seconds, and kills it when the awaiting task is
  cancelled.

Hooks are blocking calls; ``HookCaller.call`` runs them in a worker thread. A failing hook
becomes a ``BuildError`` whose message names the package in backticks, whose ``detail`` is
the tail of the output, and whose hints guess what to do from that tail (a missing module, no
compiler, no Python headers). ``HookMissing`` (an optional hook the backend lacks) is passed
through: the caller decides the fallback.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller, HookMissing

from pyx_server.engine.envs.environment import PythonEnvironment
from pyx_server.engine.errors import BuildError
from pyx_server.engine.build.source import BuildSystem, SourceLabel

__all__ = ["BUILD_TIMEOUT", "HookCaller", "HookMissing", "hook_environment"]

#: seconds one hook call may take before its process is stopped (big C++ builds take long)
BUILD_TIMEOUT = 3600.0
#: lines of backend output kept in ``BuildError.detail``
TAIL_LINES = 40

_DROPPED = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV",
                      "CONDA_PREFIX", "__PYVENV_LAUNCHER__"})


def hook_environment(env: PythonEnvironment, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables a hook process runs with (see the module docstring for why)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYX_")) and key not in _DROPPED
    }
    scripts = str(Path(env.executable).parent)
    clean["PATH"] = scripts + os.pathsep + clean["PATH"] if clean.get("PATH") else scripts
    clean["VIRTUAL_ENV"] = str(env.root)
    clean["PYTHONNOUSERSITE"] = "1"
    clean["PIP_NO_INDEX"] = "1"
    clean.update(extra or {})
    return clean


class _Failed(Exception):
    """The hook process ended badly (raised inside the runner, caught in ``HookCaller.call``)."""

    def __init__(self, returncode: int | None, *, timed_out: bool = False, reason: str | None = None) -> None:
        super().__init__(returncode, timed_out, reason)
        self.returncode = returncode
        self.timed_out = timed_out
        self.reason = reason


def _spawn(cmd: Sequence[str], cwd: str | None, env: dict[str, str]) -> subprocess.Popen:
    """Start one hook process (a seam: tests count hook processes by wrapping it)."""
    return subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


class HookCaller:
    """Calls the hooks of one tree's backend in ``env``; keeps their combined output."""

    def __init__(
        self,
        tree: Path,
        build_system: BuildSystem,
        env: PythonEnvironment,
        label: SourceLabel,
        *,
        timeout: float | None = None,
    ) -> None:
        self.tree = tree
        self.build_system = build_system
        self.env = env
        self.label = label
        self.timeout = BUILD_TIMEOUT if timeout is None else timeout
        self.output: list[str] = []
        #: how many hook processes ran (each hook call is one)
        self.processes = 0
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._caller = BuildBackendHookCaller(
            str(tree),
            build_system.backend,
            backend_path=list(build_system.backend_path) or None,
            runner=self._run,
            python_executable=str(env.executable),
        )

    def use_env(self, env: PythonEnvironment) -> None:
        """Run later hooks in ``env`` (a richer environment made for ``get_requires_*``' answer)."""
        self.env = env
        self._caller.python_executable = str(env.executable)

    # -- the runner pyproject_hooks calls (in a worker thread) ----------------------------------

    def _run(self, cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        try:
            proc = _spawn(cmd, cwd, hook_environment(self.env, extra_environ))
        except OSError as exc:
            raise _Failed(None, reason=f"could not start `{cmd[0]}`: {exc.strerror or exc}") from exc
        with self._lock:
            self.processes += 1
            self._running.add(proc)
        try:
            try:
                out, _ = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                self.output.append(out.decode("utf-8", "replace"))
                raise _Failed(None, timed_out=True) from None
        finally:
            with self._lock:
                self._running.discard(proc)
        self.output.append(out.decode("utf-8", "replace"))
        if proc.returncode != 0:
            raise _Failed(proc.returncode)

    def _kill_running(self) -> None:
        with self._lock:
            running = list(self._running)
        for proc in running:
            try:
                proc.kill()
            except OSError:
                pass

    # -- hooks ------------------------------------------------------------------------------------

    async def call(self, hook: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``hook`` of the backend; a failure becomes ``BuildError``, ``HookMissing`` passes."""
        method = getattr(self._caller, hook)
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except asyncio.CancelledError:
            self._kill_running()
            raise
        except _Failed as exc:
            raise self._error(hook, exc) from None
        except BackendUnavailable as exc:
            raise self._unavailable(exc) from None
        except HookMissing:
            raise
        except (OSError, ValueError, KeyError) as exc:  # no answer file, an answer that isn't JSON
            raise self._error(hook, _Failed(None, reason=f"gave no answer pyx can read ({exc})")) from exc

    def tail(self) -> str:
        """The last ``TAIL_LINES`` lines of everything the backend printed so far."""
        lines = "".join(self.output).rstrip().splitlines()
        return "\n".join(lines[-TAIL_LINES:])

    def _context(self, hook: str) -> dict[str, Any]:
        return {"package": str(self.label), "backend": self.build_system.backend, "hook": hook,
                "source": self.tree}

    def _error(self, hook: str, failed: _Failed) -> BuildError:
        tail = self.tail()
        backend = self.build_system.backend
        if failed.timed_out:
            why = f"did not finish within {self.timeout:.0f} seconds"
        elif failed.reason:
            why = failed.reason
        else:
            why = f"failed (exit code {failed.returncode})"
        context = self._context(hook)
        if failed.returncode is not None:
            context["exit_code"] = failed.returncode
        last = _last_error_line(tail)
        message = f"Failed to build `{self.label}`: the build backend `{backend}` {why} in `{hook}`"
        if last:
            message += f": {last}"
        return BuildError(message, context=context, hints=build_hints(tail, self.build_system, self.env), detail=tail or None)

    def _unavailable(self, exc: BackendUnavailable) -> BuildError:
        tail = (self.tail() + "\n" + (exc.traceback or "")).strip()
        tail = "\n".join(tail.splitlines()[-TAIL_LINES:])
        backend = self.build_system.backend
        requires = ", ".join(f"`{r}`" for r in self.build_system.requires) or "nothing"
        return BuildError(
            f"Failed to build `{self.label}`: the build backend `{backend}` cannot be imported",
            context=self._context("import"),
            hints=[
                f"the package's `[build-system] requires` ({requires}) must install the module "
                f"`{backend.split(':')[0]}`; the package's build configuration may be wrong",
                *build_hints(tail, self.build_system, self.env, generic=False),
            ],
            detail=tail or None,
        )


_MISSING_MODULE = re.compile(r"No module named '([^']+)'")
_COMPILER = re.compile(
    r"command '[^']*\b(gcc|cc|clang|g\+\+|c\+\+|x86_64-linux-gnu-gcc)' failed"
    r"|unable to execute '?(gcc|cc|clang)"
    r"|(gcc|cc|clang|c\+\+): (command )?not found"
    r"|No such file or directory: '(gcc|cc|clang|c\+\+)'"
    r"|Unable to find a (C|C\+\+)? ?compiler|Microsoft Visual C\+\+ [\d.]+ or greater is required"
    r"|[Cc]ompiler .*not found|error: command '.*' failed: No such file or directory",
)
_HEADERS = re.compile(r"Python\.h: No such file or directory|fatal error: Python\.h")
_RUST = re.compile(r"can't find Rust compiler|cargo: (command )?not found|rustc: (command )?not found")


def build_hints(tail: str, build_system: BuildSystem, env: PythonEnvironment, *, generic: bool = True) -> list[str]:
    """What to try, guessed from the last lines a failed backend printed."""
    hints: list[str] = []
    missing = _MISSING_MODULE.findall(tail)
    if missing:
        module = missing[-1].split(".")[0]
        requires = ", ".join(f"`{r}`" for r in build_system.requires) or "nothing"
        hints.append(
            f"the build imports `{module}`, which its build requirements ({requires}) do not "
            "provide: the package's `[build-system] requires` is likely incomplete"
        )
    if _HEADERS.search(tail):
        hints.append("the build needs the Python development headers: install them (for example "
                     "`python3-dev` on Debian/Ubuntu), or use a Python that includes them")
    elif _COMPILER.search(tail):
        hints.append("the package compiles native code and no working C/C++ compiler was found: "
                     "install one (for example `build-essential` on Debian/Ubuntu, or the Xcode "
                     "command line tools on macOS)")
    if _RUST.search(tail):
        hints.append("the package needs a Rust toolchain to build: install one with rustup")
    if generic:
        version = ""
        if env.has_interpreter:
            version = f" for Python {env.interpreter.version_short}"
        hints.append(f"the failure is in the package's own build, not in pyx: a version of the package "
                     f"that publishes a wheel{version} needs no build")
    return hints


def _last_error_line(tail: str) -> str | None:
    """The last line that looks like an error (``SomeError: ...``, ``error: ...``), shortened."""
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if re.match(r"^([A-Za-z_][\w.]*(Error|Exception)|error)\b.*:", text):
            return text if len(text) <= 200 else text[:197] + "..."
    return None
