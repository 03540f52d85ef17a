"""Run one command the way the benchmark times it: isolated environment, wall time, peak RSS, output to a log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Variables that would point a tool at another index, cache or configuration than the
# one the harness chooses. They are dropped so pyx, uv and pip all use their built-in
# default index: this machine's pip config adds local find-links that would skew pip
# (and pyx, which honours pip's configuration).
_DROPPED_PREFIXES = ("PIP_", "UV_", "PYX_")
# Kept: TLS trust is not index configuration, and without it a tool may not reach the index.
_KEPT = frozenset({"PIP_CERT"})
_DROPPED = frozenset({"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME"})
# URL authorities (host, port, credentials) in a failing tool's output: the tail goes into the
# committed results file, which names no index host.
_AUTHORITY = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s'\"]+", re.IGNORECASE)


def isolated_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every benchmarked command runs in, so no tool sees local config.

    `PIP_CONFIG_FILE=/dev/null` makes pip (and pyx, which reads pip's config) skip every
    config file; the version check is off because uv and pyx make no such request.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED and (key in _KEPT or not key.startswith(_DROPPED_PREFIXES))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Sample:
    """One timed command: wall seconds, peak resident memory and CPU time of the process tree."""

    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    returncode: int
    timed_out: bool
    log: Path

    @property
    def ok(self) -> bool:
        """True when the command finished in time with exit status 0."""
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 12) -> str:
        """The last lines of the command's output, to explain a failure in the report.

        URL hosts and credentials are masked, since the report is committed.
        """
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.rstrip().splitlines()[-lines:])
        return _AUTHORITY.sub(lambda m: m["scheme"] + "<host>", tail)


def run(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float) -> Sample:
    """Run `argv` to completion and measure it.

    `os.wait4` returns the resource usage of exactly this child (and the descendants it
    waited for), so the peak RSS is the tool's own, not the harness's or an earlier
    command's. Output goes to `log` (not a pipe: no terminal, so no progress bars, and no
    deadlock on large output). A command running past `timeout` is killed with its
    process group and reported as timed out.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            out.write(f"cannot start: {exc}\n".encode())
            return Sample(0.0, 0.0, 0.0, 127, False, log)
        killed = threading.Event()

        def _kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
    return Sample(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024.0,  # kilobytes on Linux
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode,
        timed_out=killed.is_set(),
        log=log,
    )
