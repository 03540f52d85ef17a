"""Workloads (what gets installed or resolved) and scenarios (in which state the timed step starts).

Install scenarios (cold, warm, no-op) install a workload's pinned lock; resolve scenarios
(resolve-cold, resolve-warm) resolve a workload's unpinned input (`pyx pip compile`,
`uv pip compile`, pip's `install --dry-run --report`); env scenarios (run-in-sync,
notebook-env-warm) work on a PEP 723 script or notebook declaring a workload's roots
(`pyx run` vs `uv run --script`; `pyx sync --notebook` vs a venv + `uv pip sync`).

A scenario splits its work into untimed set-up and exactly one timed command per repeat,
so every tool is timed on the same step. To add one, subclass `Scenario`, implement
`prepare` (return the command to time), and register it in `SCENARIOS`; a tool that has no
command for it raises `Unsupported` and is shown as n/a.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import measure
from tools import Tool, Unsupported

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
    """What the tools work on: a pinned lock to install and/or an unpinned input to resolve.

    `imports` prove an install is usable. `agree` says the tools are expected to pick the
    same versions when resolving (true unless several answers are equally right, as after
    backtracking, where each resolver may settle on a different older version).
    """

    name: str
    title: str
    lock: Path | None = None
    requirements: Path | None = None
    imports: tuple[str, ...] = ()
    agree: bool = True
    script: Path | None = None  # a PEP 723 script declaring the roots (env scenarios)
    notebook: Path | None = None  # a notebook declaring the roots in its first cell, juv's way

    @property
    def pins(self) -> int:
        """How many `name==version` pins the lock holds (0 without a lock)."""
        if self.lock is None:
            return 0
        return sum(1 for line in self.lock.read_text().splitlines() if "==" in line.split("#")[0])

    @property
    def roots(self) -> list[str]:
        """The requirement lines of the resolve input, for the record."""
        if self.requirements is None:
            return []
        lines = (line.split("#", 1)[0].strip() for line in self.requirements.read_text().splitlines())
        return [line for line in lines if line]


WORKLOADS = {
    "data-science": Workload(
        name="data-science",
        title="numpy, pandas, matplotlib, scikit-learn, httpx, rich",
        lock=BENCH / "requirements" / "data-science.txt",
        requirements=BENCH / "requirements" / "data-science.in",
        imports=("numpy", "pandas", "matplotlib", "sklearn", "httpx", "rich"),
        script=BENCH / "requirements" / "ds_script.py",
        notebook=BENCH / "requirements" / "ds_notebook.ipynb",
    ),
    "jupyterlab": Workload(
        name="jupyterlab",
        title="jupyterlab and its whole dependency tree",
        requirements=BENCH / "requirements" / "jupyterlab.in",
    ),
    "backtracking": Workload(
        name="backtracking",
        title="boto3 with botocore<1.30: each newer boto3 is tried and rejected",
        requirements=BENCH / "requirements" / "backtracking.in",
        agree=False,
    ),
}
INSTALL_WORKLOAD = "data-science"


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
    # (tool, workload) pairs whose resolve cache already holds a resolution of that workload
    resolved: set[tuple[str, str]] = field(default_factory=set)
    # (workload, tool) -> the pins of the tool's first successful resolve of that workload
    pins: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
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

    def resolve_cache(self, tool: Tool) -> Path:
        """The tool's cache for the resolve scenarios, apart from the install cache.

        Kept apart so a resolve-cold repeat never empties the cache an install scenario primed,
        and a resolve-warm run finds only what resolving put there (no wheels from installs).
        """
        return self.workdir / tool.name / "resolve-cache"

    def venv(self, tool: Tool, label: str) -> Path:
        """Where the tool's venv for `label` lives; cache and venvs share one filesystem."""
        return self.workdir / tool.name / f"venv-{label}"

    def _log(self, tool: Tool, label: str) -> Path:
        key = f"{tool.name}-{label}"
        n = self._logs[key] = self._logs.get(key, -1) + 1
        return self.workdir / "logs" / f"{key}-{n}.log"

    def timed(self, tool: Tool, argv: list[str], label: str, cache: Path | None = None,
              data: Path | None = None) -> measure.Sample:
        """Run the measured command of a scenario in the tool's isolated environment.

        `cache` is the cache the tool's variable points at (default: the install cache);
        `data`, when given, is where a tool that has one keeps script and notebook environments.
        """
        return measure.run(
            argv, env=tool.env(cache or self.cache(tool), data), cwd=self.workdir,
            log=self._log(tool, label), timeout=self.timeout,
        )

    def step(self, tool: Tool, argv: list[str], label: str, cache: Path | None = None,
             data: Path | None = None) -> measure.Sample:
        """Run an untimed helper command; raise `StepFailed` with its output if it fails."""
        sample = self.timed(tool, argv, label, cache, data)
        if not sample.ok:
            raise failure(label, argv, sample)
        return sample

    def data(self, tool: Tool, label: str) -> Path:
        """A data directory of the tool's (stored script/notebook environments) for `label`."""
        return self.workdir / tool.name / f"data-{label}"

    def resolve_venv(self, tool: Tool) -> Path:
        """The venv a tool resolves from when it needs one (pip), made once and kept."""
        venv = self.venv(tool, "resolve")
        if tool.needs_venv_to_resolve() and not (venv / "bin" / "python").exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            self.step(tool, tool.venv_argv(venv, self.python), "venv-resolve")
        return venv

    def resolve_output(self, tool: Tool, workload: Workload, label: str) -> Path:
        """Where one resolve writes its pins (a fresh path: a stale file cannot pass for a result)."""
        out = self.workdir / tool.name / "resolved" / f"{workload.name}-{label}.{'json' if tool.name == 'pip' else 'txt'}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        return out

    def resolve_argv(self, tool: Tool, workload: Workload, label: str) -> tuple[list[str], Path]:
        """The resolve command for `workload` (cache: the resolve cache) and the file it writes."""
        if workload.requirements is None:
            raise Unsupported(f"workload `{workload.name}` has no input to resolve")
        out = self.resolve_output(tool, workload, label)
        argv = tool.compile_argv(workload.requirements, out, self.python, self.resolve_venv(tool), self.resolve_cache(tool))
        return argv, out

    def empty_resolve_cache(self, tool: Tool) -> None:
        """Set the tool's resolve cache aside: the next resolve starts from nothing."""
        self.discard(self.resolve_cache(tool))
        self.resolved = {pair for pair in self.resolved if pair[0] != tool.name}

    def prime_resolve(self, tool: Tool, workload: Workload) -> None:
        """Make sure the resolve cache holds a resolution of `workload` (untimed)."""
        if (tool.name, workload.name) in self.resolved:
            return
        argv, out = self.resolve_argv(tool, workload, "prime")
        self.step(tool, argv, f"resolve-prime-{workload.name}", self.resolve_cache(tool))
        self.record_pins(tool, workload, out)
        self.resolved.add((tool.name, workload.name))

    def record_pins(self, tool: Tool, workload: Workload, out: Path) -> None:
        """Keep the first resolution each tool wrote for `workload`, for the agreement check."""
        if (workload.name, tool.name) in self.pins:
            return
        try:
            self.pins[(workload.name, tool.name)] = tool.read_pins(out)
        except (OSError, ValueError, KeyError) as exc:
            raise StepFailed(f"{tool.name} wrote no readable resolution to `{out}`: {exc}",
                             f"unreadable resolution: {exc}") from exc

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
    """One benchmark situation: untimed `setup` once per tool, then `prepare` + timed command per repeat.

    Install scenarios work on `ctx.workload` (the lock); resolve scenarios get the workload
    to resolve as `workload`. `cache(ctx, tool)` is the cache the timed command uses.
    """

    name = ""
    label = ""
    what = ""
    kind = "install"  # install | resolve | env
    target = ""  # the goal the issue set for pyx here, for the results page ("" if none)
    target_vs_uv: float | None = None  # the goal as numbers: pyx's median at most this × uv's …
    target_seconds: float | None = None  # … and at most this many seconds
    starts_cold = False  # every repeat begins from an empty cache (--cold-repeat applies)

    def applies(self, workload: Workload) -> bool:
        """True when this scenario can run on `workload` (install needs a lock, resolve an input)."""
        return workload.lock is not None if self.kind == "install" else workload.requirements is not None

    def cache(self, ctx: Context, tool: Tool) -> Path:
        """The cache directory the timed command points the tool at."""
        return ctx.cache(tool)

    def data(self, ctx: Context, tool: Tool) -> Path | None:
        """The data directory the timed command points the tool at (None: the variable stays unset)."""
        return None

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        """Untimed work done once per tool before its repeats."""

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        """Untimed work before repeat `i`; returns the command to time."""
        raise NotImplementedError

    def finish(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> None:
        """Untimed work after a successful timed repeat (checks, clean-up)."""


class Cold(Scenario):
    name = "cold"
    label = "cold cache"
    what = "empty cache directory, fresh venv, install the lock (downloads everything)"
    starts_cold = True

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        ctx.discard(ctx.cache(tool))
        ctx.primed.discard(tool.name)
        venv = ctx.fresh_venv(tool, self.name)
        return tool.sync_argv(ctx.workload.lock, venv, ctx.cache(tool))

    def finish(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> None:
        ctx.primed.add(tool.name)
        venv = ctx.venv(tool, self.name)
        ctx.verify(self.name, tool, venv)
        ctx.discard(venv)


class Warm(Scenario):
    name = "warm"
    label = "warm cache"
    what = "cache populated by an earlier install, fresh venv, install the lock"

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        ctx.prime(tool)

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        venv = ctx.fresh_venv(tool, self.name)
        return tool.sync_argv(ctx.workload.lock, venv, ctx.cache(tool))

    def finish(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> None:
        venv = ctx.venv(tool, self.name)
        ctx.verify(self.name, tool, venv)
        ctx.discard(venv)


class Noop(Scenario):
    name = "noop"
    label = "no-op"
    what = "everything already installed, run the same install again (nothing to do)"

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        ctx.prime(tool)
        venv = ctx.fresh_venv(tool, self.name)
        ctx.install(tool, venv, "noop-setup")
        ctx.verify(self.name, tool, venv)

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        return tool.sync_argv(ctx.workload.lock, ctx.venv(tool, self.name), ctx.cache(tool))


class NoopOffline(Noop):
    """The no-op with the network forbidden: what is left is the tool's own start-up and checks."""

    name = "noop-offline"
    label = "no-op, offline"
    what = "as no-op, but with --offline (pip: --no-index): no index revalidation, only the tool's own work"

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        return tool.sync_argv(ctx.workload.lock, ctx.venv(tool, self.name), ctx.cache(tool), offline=True)


class ResolveCold(Scenario):
    """Resolve with nothing cached: every index page and every candidate's metadata is fetched."""

    name = "resolve-cold"
    label = "resolve, cold cache"
    what = "empty cache directory, resolve the input and write the pins (pip: its report)"
    kind = "resolve"
    starts_cold = True
    _outputs: dict[tuple[str, str], Path]

    def __init__(self) -> None:
        self._outputs = {}

    def cache(self, ctx: Context, tool: Tool) -> Path:
        return ctx.resolve_cache(tool)

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        ctx.resolve_argv(tool, workload, "probe")  # n/a before any work if it cannot resolve; pip's venv

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        ctx.empty_resolve_cache(tool)
        argv, self._outputs[(tool.name, workload.name)] = ctx.resolve_argv(tool, workload, f"{self.name}-{i}")
        return argv

    def finish(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> None:
        ctx.record_pins(tool, workload, self._outputs[(tool.name, workload.name)])
        ctx.resolved.add((tool.name, workload.name))


class ResolveWarm(ResolveCold):
    """Resolve again with the cache an earlier resolve of the same input filled."""

    name = "resolve-warm"
    label = "resolve, warm cache"
    what = "cache populated by an earlier resolve of the same input, resolve it again"
    starts_cold = False

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        super().setup(ctx, tool, workload)
        ctx.prime_resolve(tool, workload)

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        argv, self._outputs[(tool.name, workload.name)] = ctx.resolve_argv(tool, workload, f"{self.name}-{i}")
        return argv


def _stored_environment(data: Path) -> Path:
    """The one environment pyx built under the data directory `data` (`envs/<key>/`)."""
    found = sorted(p.parent.parent for p in (data / "envs").glob("*/bin/python"))
    if len(found) != 1:
        raise StepFailed(f"expected one environment under `{data / 'envs'}`, found {len(found)}",
                         f"{len(found)} environments in the data dir")
    return found[0]


def _checked_output(sample: measure.Sample, expected: str, label: str) -> None:
    """Fail unless the command's output ends with `expected` (the script did run, to the end)."""
    lines = [line for line in sample.log.read_text(errors="replace").splitlines() if line.strip()]
    if not lines or lines[-1].strip() != expected:
        raise StepFailed(f"{label}: the output does not end with `{expected}`:\n{sample.tail()}",
                         f"{label}: no `{expected}` in the output")


class RunInSync(Scenario):
    """Run a PEP 723 script whose environment already exists: what a tool pays on every `run`.

    `pyx run` and `uv run --script` both make sure the environment matches the metadata before
    they start the script, every time; nothing is installed here, so what is measured is that
    check plus starting the interpreter. The script prints `ok`.
    """

    name = "run-in-sync"
    label = "run a script, environment in sync"
    what = ("PEP 723 script declaring the roots (unpinned), its environment made by an earlier run; "
            "run it again (`pyx run` / `uv run --script`)")
    kind = "env"
    target = "pyx ≤ 1.5× uv"
    target_vs_uv = 1.5

    def applies(self, workload: Workload) -> bool:
        return workload.script is not None

    def data(self, ctx: Context, tool: Tool) -> Path | None:
        return ctx.data(tool, self.name)

    def script(self, ctx: Context, tool: Tool, workload: Workload, stem: str | None = None) -> Path:
        """The tool's own copy of the script in the work dir (a tool may write beside it)."""
        assert workload.script is not None
        return ctx.workdir / tool.name / f"{stem or workload.script.stem}.py"

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        assert workload.script is not None
        python = ctx.python
        tool.run_argv(workload.script, python)  # n/a before any work
        text = workload.script.read_text()
        script = self.script(ctx, tool, workload)
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        # the same metadata, a body that imports the roots: proves the environment is complete
        body = 'print("ok")'
        if body not in text:
            raise StepFailed(f"`{workload.script}` has no `{body}` line", "the script's body is not print(\"ok\")")
        check = self.script(ctx, tool, workload, f"check_{workload.script.stem}")
        check.write_text(text.replace(body, f"import {', '.join(workload.imports)}\n{body}"))
        cache, data = self.cache(ctx, tool), self.data(ctx, tool)
        _checked_output(ctx.step(tool, tool.run_argv(check, python), f"{self.name}-import-check", cache, data),
                        "ok", f"{self.name}-import-check")
        _checked_output(ctx.step(tool, tool.run_argv(script, python), f"{self.name}-setup", cache, data),
                        "ok", f"{self.name}-setup")

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        return tool.run_argv(self.script(ctx, tool, workload), ctx.python)


class NotebookEnvWarm(Scenario):
    """A fresh environment for a locked notebook that declares the roots, every wheel in the cache.

    pyx: the notebook (juv's layout, PEP 723 block in its first cell) is locked once with
    `pyx lock --notebook`, which stores the lock in the notebook's metadata; each repeat runs
    `pyx sync --notebook` with an empty data directory, so the environment is built from
    scratch (venv and all) out of the warm cache. uv keeps no lock inside a notebook: it
    installs the same set's pinned lock into a fresh venv: `uv venv` then `uv pip sync`,
    both timed (the issue's "uv doing the same"; pyx's timed sync creates its venv too).
    """

    name = "notebook-env-warm"
    label = "notebook environment, warm cache"
    what = ("notebook declaring the roots, lock embedded (pyx) or the pinned lock (uv), every wheel cached; "
            "build a fresh environment (`pyx sync --notebook` with an empty data dir / `uv venv` + `uv pip sync`)")
    kind = "env"
    target = "≤ 0.5 s and ≤ uv"
    target_vs_uv = 1.0
    target_seconds = 0.5

    def applies(self, workload: Workload) -> bool:
        return workload.notebook is not None and workload.lock is not None

    def data(self, ctx: Context, tool: Tool) -> Path | None:
        return ctx.data(tool, self.name)

    def notebook(self, ctx: Context, tool: Tool, workload: Workload) -> Path:
        """The tool's own copy of the notebook in the work dir: locking writes into it."""
        assert workload.notebook is not None
        return ctx.workdir / tool.name / workload.notebook.name

    def fresh_data(self, ctx: Context, tool: Tool) -> Path:
        """An empty data directory (the previous one set aside): no stored environment to reuse."""
        data = ctx.data(tool, self.name)
        ctx.discard(data)
        data.mkdir(parents=True)
        return data

    def setup(self, ctx: Context, tool: Tool, workload: Workload) -> None:
        if tool.notebook_via_venv:
            ctx.prime(tool)
            return
        notebook = self.notebook(ctx, tool, workload)
        lock_argv = tool.notebook_lock_argv(notebook, ctx.python)  # n/a before any work
        assert workload.notebook is not None
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_bytes(workload.notebook.read_bytes())
        cache = self.cache(ctx, tool)
        ctx.step(tool, lock_argv, f"{self.name}-lock", cache, self.fresh_data(ctx, tool))
        if not json.loads(notebook.read_text()).get("metadata", {}).get("pyx", {}).get("pylock"):
            raise StepFailed(f"`{notebook}` holds no lock in its metadata after locking", "no lock in the notebook")
        # one untimed sync puts every wheel of the lock in the cache, then proves the result imports
        ctx.step(tool, tool.notebook_sync_argv(notebook, ctx.python), f"{self.name}-setup", cache,
                 self.fresh_data(ctx, tool))
        ctx.verify(self.name, tool, _stored_environment(ctx.data(tool, self.name)))

    def prepare(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> list[str]:
        if tool.notebook_via_venv:
            # "uv doing the same" (the issue): a fresh environment is `uv venv` + `uv pip sync`,
            # both timed, as pyx's timed sync creates its venv too; one `sh -c` runs the pair
            venv = ctx.venv(tool, self.name)
            ctx.discard(venv)
            venv.parent.mkdir(parents=True, exist_ok=True)
            create = shlex.join(tool.venv_argv(venv, ctx.python))
            fill = shlex.join(tool.sync_argv(ctx.workload.lock, venv, ctx.cache(tool)))
            return ["/bin/sh", "-c", f"{create} && {fill}"]
        self.fresh_data(ctx, tool)
        return tool.notebook_sync_argv(self.notebook(ctx, tool, workload), ctx.python)

    def finish(self, ctx: Context, tool: Tool, workload: Workload, i: int) -> None:
        if tool.notebook_via_venv:
            venv = ctx.venv(tool, self.name)
            ctx.verify(self.name, tool, venv)
            ctx.discard(venv)
            return
        _stored_environment(ctx.data(tool, self.name))  # the timed sync did build one
        ctx.discard(ctx.data(tool, self.name))


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (Cold(), Warm(), Noop(), NoopOffline(), ResolveCold(), ResolveWarm(),
                        RunInSync(), NotebookEnvWarm())
}
DEFAULT_SCENARIOS = ("cold", "warm", "noop")
RESOLVE_SCENARIOS = ("resolve-cold", "resolve-warm")
ENV_SCENARIOS = ("run-in-sync", "notebook-env-warm")
DEFAULT_RESOLVE_WORKLOADS = ("data-science", "jupyterlab", "backtracking")


def normalized_pins(pins: list[tuple[str, str]]) -> dict[str, str] | None:
    """`{canonical name: canonical version}` for comparing resolutions, or None without `packaging`.

    Extras are dropped (pyx writes `bleach[css]==6.4.0` where uv writes `bleach==6.4.0`: the
    same pin). Names and versions go through `packaging` (as the bench venv's matplotlib
    brings it), never through hand-written rules.
    """
    try:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return None
    result = {}
    for name, version in pins:
        try:
            key = canonicalize_name(Requirement(name).name)
        except InvalidRequirement:
            key = canonicalize_name(name)
        try:
            result[key] = str(Version(version))
        except InvalidVersion:
            result[key] = version
    return result


@dataclass(frozen=True)
class Agreement:
    """Whether the tools that resolved a workload chose the same versions, and where not."""

    workload: str
    tools: tuple[str, ...]
    pins: dict[str, int]
    differences: tuple[str, ...]
    checked: bool = True
    expected: bool = True

    @property
    def agree(self) -> bool:
        """True when every tool chose the same set of name==version pins."""
        return self.checked and not self.differences

    def line(self) -> str:
        """One line for the table and the results page."""
        counts = ", ".join(f"{t} {n}" for t, n in self.pins.items())
        if not self.checked:
            return f"{self.workload}: versions not compared (the `packaging` module is not installed)"
        if self.agree:
            return f"{self.workload}: {', '.join(self.tools)} agree on all {next(iter(self.pins.values()))} pins"
        head = "WARNING: " if self.expected else "note (several answers are right here): "
        shown = "; ".join(self.differences[:6]) + (f"; … {len(self.differences) - 6} more" if len(self.differences) > 6 else "")
        return f"{head}{self.workload}: the tools' resolutions differ ({counts} pins): {shown}"


def compare_resolutions(workload: Workload, by_tool: dict[str, list[tuple[str, str]]]) -> Agreement | None:
    """Compare the pins each tool chose for `workload` (None with fewer than two tools)."""
    if len(by_tool) < 2:
        return None
    normalized = {tool: normalized_pins(pins) for tool, pins in by_tool.items()}
    counts = {tool: len(pins) for tool, pins in by_tool.items()}
    if any(v is None for v in normalized.values()):
        return Agreement(workload.name, tuple(by_tool), counts, (), checked=False, expected=workload.agree)
    names = sorted(set().union(*(set(n) for n in normalized.values())))
    differences = []
    for name in names:
        chosen = {tool: pins.get(name) for tool, pins in normalized.items()}
        if len(set(chosen.values())) > 1:
            differences.append(f"{name}: " + ", ".join(f"{t} {v or 'absent'}" for t, v in chosen.items()))
    return Agreement(workload.name, tuple(by_tool), counts, tuple(differences), expected=workload.agree)
