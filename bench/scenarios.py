"""Workloads (what gets installed) and scenarios (in which state the timed step starts): cold, warm, no-op.

A scenario splits its work into untimed set-up and exactly one timed command per repeat,
so every tool is timed on the same step. To add one, subclass `Scenario`, implement
`prepare` (return the command to time), and register it in `SCENARIOS`; a tool that has no
command for it raises `Unsupported` and is shown as n/a.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import measure
from tools import Tool

BENCH = Path(__file__).resolve().parent


class StepFailed(Exception):
    """A step failed (an untimed helper or the timed command); the cell is marked failed.

    `summary` is the one line the table shows; the message holds the command and its output.
    """

    def __init__(self, message: str, summary: str) -> None:
        super().__init__(message)
        self.summary = summary


def failure(label: str, argv: list[str], sample: measure.Sample) -> StepFailed:
    """The error for a command that failed or timed out, with its output's last line as summary."""
    if sample.timed_out:
        summary = f"{label}: timed out"
    else:
        lines = [line.strip() for line in sample.tail().splitlines() if line.strip() and not line.startswith("$ ")]
        summary = f"{label}: exit {sample.returncode}: {lines[-1] if lines else 'no output'}"
    why = "timed out" if sample.timed_out else f"exited {sample.returncode}"
    return StepFailed(f"{label}: `{' '.join(argv)}` {why}\n{sample.tail()}", summary)


@dataclass(frozen=True)
class Workload:
    """A pinned lock to install plus the modules that prove the install is usable."""

    name: str
    lock: Path
    imports: tuple[str, ...]
    title: str

    @property
    def pins(self) -> int:
        """How many `name==version` pins the lock holds."""
        return sum(1 for line in self.lock.read_text().splitlines() if "==" in line.split("#")[0])


WORKLOADS = {
    "data-science": Workload(
        name="data-science",
        lock=BENCH / "requirements" / "data-science.txt",
        imports=("numpy", "pandas", "matplotlib", "sklearn", "httpx", "rich"),
        title="numpy, pandas, matplotlib, scikit-learn, httpx, rich",
    ),
}


@dataclass
class Context:
    """Shared state of one harness run: where things go, and which caches are already populated."""

    workdir: Path
    python: Path
    workload: Workload
    timeout: float
    primed: set[str] = field(default_factory=set)
    verified: set[tuple[str, str]] = field(default_factory=set)
    installed_files: int | None = None
    _logs: dict[str, int] = field(default_factory=dict)

    def discard(self, path: Path) -> None:
        """Set ``path`` aside instead of deleting it now.

        Deleting 8,000 files on a filesystem mounted with ``discard`` keeps the disk busy for
        seconds afterwards, which slowed whichever tool ran next; the trash is emptied once,
        after every measurement (``empty_trash``).
        """
        if path.exists():
            trash = self.workdir / "trash"
            trash.mkdir(parents=True, exist_ok=True)
            path.rename(trash / f"{len(list(trash.iterdir()))}-{path.name}")

    def empty_trash(self) -> None:
        shutil.rmtree(self.workdir / "trash", ignore_errors=True)

    def cache(self, tool: Tool) -> Path:
        """The tool's own cache directory for this run (never the user's real cache)."""
        return self.workdir / tool.name / "cache"

    def venv(self, tool: Tool, label: str) -> Path:
        """Where the tool's venv for `label` lives; cache and venvs share one filesystem."""
        return self.workdir / tool.name / f"venv-{label}"

    def _log(self, tool: Tool, label: str) -> Path:
        key = f"{tool.name}-{label}"
        n = self._logs[key] = self._logs.get(key, -1) + 1
        return self.workdir / "logs" / f"{key}-{n}.log"

    def timed(self, tool: Tool, argv: list[str], label: str) -> measure.Sample:
        """Run the measured command of a scenario in the tool's isolated environment."""
        return measure.run(
            argv, env=tool.env(self.cache(tool)), cwd=self.workdir,
            log=self._log(tool, label), timeout=self.timeout,
        )

    def step(self, tool: Tool, argv: list[str], label: str) -> None:
        """Run an untimed helper command; raise `StepFailed` with its output if it fails."""
        sample = self.timed(tool, argv, label)
        if not sample.ok:
            raise failure(label, argv, sample)

    def fresh_venv(self, tool: Tool, label: str) -> Path:
        """An empty venv made by the tool itself (untimed), replacing any earlier one."""
        venv = self.venv(tool, label)
        self.discard(venv)
        venv.parent.mkdir(parents=True, exist_ok=True)
        self.step(tool, tool.venv_argv(venv, self.python), f"venv-{label}")
        return venv

    def install(self, tool: Tool, venv: Path, label: str) -> None:
        """Install the workload untimed (to populate a cache or an environment)."""
        self.step(tool, tool.sync_argv(self.workload.lock, venv, self.cache(tool)), label)

    def prime(self, tool: Tool) -> None:
        """Make sure the tool's cache holds the whole workload (a cold run already does that)."""
        if tool.name in self.primed:
            return
        venv = self.fresh_venv(tool, "prime")
        self.install(tool, venv, "prime")
        self.discard(venv)
        self.primed.add(tool.name)

    def verify(self, scenario: str, tool: Tool, venv: Path) -> None:
        """Check once per scenario and tool that the installed environment imports the workload.

        A tool that "wins" by installing nothing would otherwise look fast.
        """
        if (scenario, tool.name) in self.verified:
            return
        code = "import " + ", ".join(self.workload.imports)
        self.step(tool, [str(venv / "bin" / "python"), "-c", code], f"{scenario}-import-check")
        self.verified.add((scenario, tool.name))
        if self.installed_files is None:
            self.installed_files = sum(
                1 for p in (venv / "lib").rglob("*") if p.is_file() and "site-packages" in p.parts
            )


class Scenario:
    """One benchmark situation: untimed `setup` once per tool, then `prepare` + timed command per repeat."""

    name = ""
    label = ""
    what = ""

    def setup(self, ctx: Context, tool: Tool) -> None:
        """Untimed work done once per tool before its repeats."""

    def prepare(self, ctx: Context, tool: Tool, i: int) -> list[str]:
        """Untimed work before repeat `i`; returns the command to time."""
        raise NotImplementedError

    def finish(self, ctx: Context, tool: Tool, i: int) -> None:
        """Untimed work after a successful timed repeat (checks, clean-up)."""


class Cold(Scenario):
    name = "cold"
    label = "cold cache"
    what = "empty cache directory, fresh venv, install the lock (downloads everything)"

    def prepare(self, ctx: Context, tool: Tool, i: int) -> list[str]:
        ctx.discard(ctx.cache(tool))
        ctx.primed.discard(tool.name)
        venv = ctx.fresh_venv(tool, self.name)
        return tool.sync_argv(ctx.workload.lock, venv, ctx.cache(tool))

    def finish(self, ctx: Context, tool: Tool, i: int) -> None:
        ctx.primed.add(tool.name)
        venv = ctx.venv(tool, self.name)
        ctx.verify(self.name, tool, venv)
        ctx.discard(venv)


class Warm(Scenario):
    name = "warm"
    label = "warm cache"
    what = "cache populated by an earlier install, fresh venv, install the lock"

    def setup(self, ctx: Context, tool: Tool) -> None:
        ctx.prime(tool)

    def prepare(self, ctx: Context, tool: Tool, i: int) -> list[str]:
        venv = ctx.fresh_venv(tool, self.name)
        return tool.sync_argv(ctx.workload.lock, venv, ctx.cache(tool))

    def finish(self, ctx: Context, tool: Tool, i: int) -> None:
        venv = ctx.venv(tool, self.name)
        ctx.verify(self.name, tool, venv)
        ctx.discard(venv)


class Noop(Scenario):
    name = "noop"
    label = "no-op"
    what = "everything already installed, run the same install again (nothing to do)"

    def setup(self, ctx: Context, tool: Tool) -> None:
        ctx.prime(tool)
        venv = ctx.fresh_venv(tool, self.name)
        ctx.install(tool, venv, "noop-setup")
        ctx.verify(self.name, tool, venv)

    def prepare(self, ctx: Context, tool: Tool, i: int) -> list[str]:
        return tool.sync_argv(ctx.workload.lock, ctx.venv(tool, self.name), ctx.cache(tool))


class NoopOffline(Noop):
    """The no-op with the network forbidden: what is left is the tool's own start-up and checks."""

    name = "noop-offline"
    label = "no-op, offline"
    what = "as no-op, but with --offline (pip: --no-index): no index revalidation, only the tool's own work"

    def prepare(self, ctx: Context, tool: Tool, i: int) -> list[str]:
        return tool.sync_argv(ctx.workload.lock, ctx.venv(tool, self.name), ctx.cache(tool), offline=True)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (Cold(), Warm(), Noop(), NoopOffline())}
DEFAULT_SCENARIOS = ("cold", "warm", "noop")
