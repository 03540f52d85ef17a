"""Run the `pyx` command line from tests: in-process (fast) or as a real subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyx_server.cli.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def pyx(*args: str | Path, cwd: Path | None = None) -> Run:
    """Call ``pyx`` in this process, capturing its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        os.chdir(old)
    return Run(code, out.getvalue(), err.getvalue())


def pyx_process(*args: str | Path, cwd: Path | None = None, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m pyx_server`` as a separate process (for kills, concurrency, exit codes)."""
    return subprocess.run(
        [sys.executable, "-m", "pyx_server", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def mask(text: str) -> str:
    """Timings and ports masked, so output can be compared as a snapshot."""
    text = re.sub(r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]", text)


def fresh_python(code: str) -> str:
    """What ``code`` prints in a new interpreter: for what a test process cannot show (the
    modules a command imports, a process with a single thread)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
