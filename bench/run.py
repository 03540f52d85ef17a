#!/usr/bin/env python3
"""Benchmark pyx, uv and pip on the same work in one run: medians, ratios, peak RSS, a JSON record and charts.

    python bench/run.py [--scenarios cold,warm,noop] [--repeat N] [--tools pyx,uv,pip]
    python bench/run.py --scenarios resolve-cold,resolve-warm [--workloads jupyterlab]

Only the install or resolve step is timed (never venv creation). Repeats are interleaved
across tools (pyx, uv, pip, pyx, uv, pip, ...) so a slow spell of the network hits every
tool alike. A tool that fails in one scenario is reported as failed in the table; the run
goes on. Results of scenarios not run this time are carried over from the previous results
file (each result keeps its own date and pyx commit) unless --no-merge is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
import report  # noqa: E402
from scenarios import (  # noqa: E402
    DEFAULT_RESOLVE_WORKLOADS,
    DEFAULT_SCENARIOS,
    INSTALL_WORKLOAD,
    SCENARIOS,
    WORKLOADS,
    Context,
    StepFailed,
    Workload,
    compare_resolutions,
    failure,
)
from tools import Tool, Unsupported, find_pip, find_python, find_pyx, find_uv  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TOOL_ORDER = ("pyx", "uv", "pip")
ISOLATION = (
    "PIP_CONFIG_FILE=/dev/null; every PIP_*, UV_* and PYX_* variable unset (except PIP_CERT, "
    "TLS trust) and the tool's own cache variable set: all tools use their built-in default index"
)


@dataclass
class Cell:
    """The outcome of one tool in one scenario on one workload: its samples, or why it has none."""

    scenario: str
    workload: str
    tool: str
    status: str = "ok"  # ok | failed | n/a
    samples: list[measure.Sample] = field(default_factory=list)
    error: str | None = None
    summary: str | None = None

    def fail(self, status: str, error: str, summary: str | None = None) -> None:
        """Stop measuring this cell and keep the reason (one line for the table, detail for the JSON)."""
        self.status, self.error, self.samples = status, error, []
        self.summary = summary or error.splitlines()[0]

    @property
    def median(self) -> float | None:
        """Median wall seconds of the timed step, or None when the cell has no result."""
        return statistics.median(s.seconds for s in self.samples) if self.status == "ok" and self.samples else None


def _parse_list(value: str, known: dict | tuple) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown `{','.join(unknown)}`; choose from {','.join(known)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; flags are listed in bench/README.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), type=lambda v: _parse_list(v, SCENARIOS),
                   help=f"comma-separated, from {','.join(SCENARIOS)}")
    p.add_argument("--tools", default="pyx,uv,pip", type=lambda v: _parse_list(v, TOOL_ORDER))
    p.add_argument("--repeat", type=int, default=3, help="timed repeats per scenario and tool (median is reported)")
    p.add_argument("--cold-repeat", type=int, default=None,
                   help="repeats for the cold and resolve-cold scenarios only; default --repeat")
    p.add_argument("--workloads", "--workload", dest="workloads", default=None, type=lambda v: _parse_list(v, WORKLOADS),
                   help=f"comma-separated, from {','.join(WORKLOADS)} (default: {INSTALL_WORKLOAD} for the install "
                        f"scenarios, {','.join(DEFAULT_RESOLVE_WORKLOADS)} for the resolve ones)")
    p.add_argument("--python", default="python3.11", help="interpreter every venv is built on")
    p.add_argument("--pyx", default=None, help="pyx executable (default: the repository's .venv/bin/pyx)")
    p.add_argument("--uv", default=None, help="uv executable (default: PATH, then the bench venv)")
    p.add_argument("--workdir", default=None, help="where caches and venvs go (default: a new temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work dir (caches, venvs, logs); a --workdir is always kept")
    p.add_argument("--timeout", type=float, default=1200, help="seconds before one command is killed")
    p.add_argument("--output", default=str(RESULTS / "latest.json"), help="results file ('-' to skip)")
    p.add_argument("--chart", default=str(RESULTS / "chart.svg"), help="install chart file ('-' to skip)")
    p.add_argument("--resolve-chart", default=str(RESULTS / "resolve.svg"), help="resolve chart file ('-' to skip)")
    p.add_argument("--no-merge", action="store_true",
                   help="write only this run's results (default: keep the previous file's results of scenarios not run now)")
    p.add_argument("--chart-only", action="store_true", help="redraw the chart and the Markdown table from --output and exit")
    args = p.parse_args(argv)
    if args.repeat < 1 or (args.cold_repeat is not None and args.cold_repeat < 1):
        p.error("--repeat and --cold-repeat must be at least 1")
    return args


def repeats(args: argparse.Namespace) -> dict[str, int]:
    """Timed repeats per selected scenario (cold ones may use fewer: each repeat downloads everything)."""
    return {
        name: (args.cold_repeat or args.repeat) if SCENARIOS[name].starts_cold else args.repeat
        for name in args.scenarios
    }


def plan(args: argparse.Namespace) -> list[tuple[str, Workload]]:
    """The (scenario, workload) pairs to measure, in order: each scenario on every chosen workload it applies to.

    Install and env scenarios come first, in the order given. Resolve scenarios are grouped by
    workload (cold then warm on one input, whatever order they were given in, then the next
    input), so a warm resolve finds the cache its cold run just filled instead of paying for
    one more untimed resolve.
    """
    def chosen(name: str) -> list[str]:
        if args.workloads is not None:
            return args.workloads
        return list(DEFAULT_RESOLVE_WORKLOADS) if SCENARIOS[name].kind == "resolve" else [INSTALL_WORKLOAD]

    install = [n for n in args.scenarios if SCENARIOS[n].kind != "resolve"]  # install and env
    resolve = [n for n in SCENARIOS if n in args.scenarios and SCENARIOS[n].kind == "resolve"]  # cold first
    pairs = [(n, WORKLOADS[w]) for n in install for w in chosen(n) if SCENARIOS[n].applies(WORKLOADS[w])]
    workloads = list(dict.fromkeys(w for n in resolve for w in chosen(n)))
    pairs += [(n, WORKLOADS[w]) for w in workloads for n in resolve
              if w in chosen(n) and SCENARIOS[n].applies(WORKLOADS[w])]
    return pairs


def say(text: str) -> None:
    """Progress for the person watching, on stderr so the table on stdout stays clean."""
    print(text, file=sys.stderr, flush=True)


def discover(args: argparse.Namespace, python: Path) -> list[Tool]:
    """The requested tools in a fixed order, each with its version or the reason it cannot run."""
    finders = {"pyx": lambda: find_pyx(args.pyx), "uv": lambda: find_uv(args.uv), "pip": lambda: find_pip(python)}
    return [finders[name]() for name in TOOL_ORDER if name in args.tools]


def run_scenario(ctx: Context, scenario_name: str, workload: Workload, tools: list[Tool], repeat: int) -> list[Cell]:
    """Measure every tool in one scenario on one workload, repeats interleaved across tools."""
    scenario = SCENARIOS[scenario_name]
    cells = {t.name: Cell(scenario_name, workload.name, t.name) for t in tools}
    active: list[Tool] = []
    where = f"{scenario_name} {workload.name}" if scenario.kind == "resolve" else scenario_name
    for tool in tools:
        cell = cells[tool.name]
        if not tool.available:
            cell.fail("n/a", tool.problem or "unavailable")
            continue
        try:
            say(f"[{where}] {tool.name}: set-up")
            scenario.setup(ctx, tool, workload)
            active.append(tool)
        except Unsupported as exc:
            cell.fail("n/a", str(exc))
        except StepFailed as exc:
            cell.fail("failed", str(exc), exc.summary)
            say(f"[{where}] {tool.name}: FAILED — {exc.summary}")
    for i in range(repeat):
        for tool in list(active):
            cell = cells[tool.name]
            try:
                argv = scenario.prepare(ctx, tool, workload, i)
                label = f"{scenario_name}-{workload.name}" if scenario.kind == "resolve" else scenario_name
                # What earlier repeats wrote (a cold install writes ~400 MB) is flushed first,
                # so that no timed run pays for writing back another's files
                os.sync()
                sample = ctx.timed(tool, argv, label, scenario.cache(ctx, tool), scenario.data(ctx, tool))
                if not sample.ok:
                    raise failure(scenario_name, argv, sample)
                cell.samples.append(sample)
                say(f"[{where}] {tool.name}: run {i + 1}/{repeat} {sample.seconds:.3f} s, "
                    f"peak RSS {sample.peak_rss_mb:.0f} MB")
                scenario.finish(ctx, tool, workload, i)
            except Unsupported as exc:
                cell.fail("n/a", str(exc))
                active.remove(tool)
            except StepFailed as exc:
                cell.fail("failed", str(exc), exc.summary)
                active.remove(tool)
                say(f"[{where}] {tool.name}: FAILED — {exc.summary}")
    return list(cells.values())


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem(path: Path) -> str:
    """The filesystem type holding the caches and venvs (it decides clone vs hardlink vs copy)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if str(path.resolve()).startswith(mount.rstrip("/") + "/") or str(path.resolve()) == mount:
                if len(mount) > len(best):
                    best, kind = mount, parts[2]
    except (OSError, IndexError):
        pass
    return kind


def build_document(ctx: Context, args: argparse.Namespace, tools: list[Tool], cells: list[Cell]) -> dict:
    """This run's record: machine facts, versions, commands, one entry per scenario, workload and tool.

    Every result carries its own date, pyx commit and tool version, so a merged file (see
    `report.merge`) still says when each number was measured.
    """
    medians = {(c.scenario, c.workload, c.tool): c.median for c in cells}
    python_version = ctx.python.name
    try:
        python_version = subprocess.run(
            [str(ctx.python), "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    commit = _pyx_commit()
    versions = {t.name: t.version for t in tools}
    results = []
    for c in cells:
        results.append({
            "scenario": c.scenario,
            "workload": c.workload,
            "kind": SCENARIOS[c.scenario].kind,
            "tool": c.tool,
            "status": c.status,
            "median_s": round(c.median, 4) if c.median is not None else None,
            "runs_s": [round(s.seconds, 4) for s in c.samples],
            "peak_rss_mb": round(max(s.peak_rss_mb for s in c.samples), 1) if c.samples else None,
            "cpu_s": round(statistics.median(s.cpu_seconds for s in c.samples), 3) if c.samples else None,
            "vs_uv": _round(_ratio(c.median, medians.get((c.scenario, c.workload, "uv")))),
            "vs_pip": _round(_ratio(c.median, medians.get((c.scenario, c.workload, "pip")))),
            "summary": c.summary,
            "error": c.error,
            "date": date,
            "pyx_commit": commit,
            "tool_version": versions.get(c.tool),
        })
    measured = {c.workload for c in cells}
    workloads = {}
    for name in measured:
        w = WORKLOADS[name]
        workloads[name] = {
            "title": w.title,
            "lock": str(w.lock.relative_to(BENCH.parent)) if w.lock else None,
            "requirements": str(w.requirements.relative_to(BENCH.parent)) if w.requirements else None,
            "roots": w.roots,
            "pins": w.pins,
            "script": str(w.script.relative_to(BENCH.parent)) if w.script else None,
            "notebook": str(w.notebook.relative_to(BENCH.parent)) if w.notebook else None,
            "installed_files": ctx.installed_files if name == ctx.workload.name else None,
        }
    agreement = []
    for name in (w for w in WORKLOADS if w in measured):
        by_tool = {tool: pins for (w, tool), pins in ctx.pins.items() if w == name}
        found = compare_resolutions(WORKLOADS[name], dict(sorted(by_tool.items(), key=lambda kv: TOOL_ORDER.index(kv[0]))))
        if found is not None:
            agreement.append({
                "workload": name, "tools": list(found.tools), "pins": found.pins, "agree": found.agree,
                "checked": found.checked, "expected": found.expected, "differences": list(found.differences),
                "line": found.line(), "date": date,
            })
    return {
        "schema": report.SCHEMA,
        "date": date,
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory_gb": _memory_gb(),
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "filesystem": _filesystem(ctx.workdir),
        },
        "python": {"version": python_version, "path": str(ctx.python)},
        "workloads": workloads,
        "pyx_commit": commit,
        "isolation": ISOLATION,
        "tools": {
            t.name: {
                "version": t.version,
                "available": t.available,
                "problem": t.problem,
                "note": t.note,
                "resolve_note": t.resolve_note,
                "commands": t.describe(),
            }
            for t in tools
        },
        "scenarios": {name: SCENARIOS[name].what for name in args.scenarios},
        "scenario_labels": {name: SCENARIOS[name].label for name in args.scenarios},
        "scenario_kinds": {name: SCENARIOS[name].kind for name in args.scenarios},
        "scenario_targets": {
            name: {"text": s.target, "max_vs_uv": s.target_vs_uv, "max_s": s.target_seconds}
            for name, s in ((n, SCENARIOS[n]) for n in args.scenarios) if s.target
        },
        "results": results,
        "agreement": agreement,
    }


def _pyx_commit() -> str | None:
    """The repository commit the benchmarked pyx was built from (`+dirty` with local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH.parent,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pyx_server"], cwd=BENCH.parent,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios for the selected tools, print the table, write JSON, Markdown and charts."""
    args = parse_args(argv)
    if args.chart_only:
        doc = report.normalize(json.loads(Path(args.output).read_text()))
        draw_charts(doc, args)
        Path(args.output).with_suffix(".md").write_text(report.format_markdown(doc))
        return 0

    pairs = plan(args)
    if not pairs:
        raise SystemExit("bench: no selected scenario applies to the selected workloads "
                         "(install scenarios need a workload with a lock: " +
                         ", ".join(n for n, w in WORKLOADS.items() if w.lock) + ")")
    python = find_python(args.python)
    tools = discover(args, python)
    for t in tools:
        say(f"{t.name}: {t.version} ({t.exe})" + (f" — not run: {t.problem}" if t.problem else ""))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="pyx-bench-"))
    remove_workdir = args.workdir is None and not args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    install = next((w for name, w in pairs if SCENARIOS[name].kind == "install"), WORKLOADS[INSTALL_WORKLOAD])
    ctx = Context(workdir=workdir, python=python, workload=install, timeout=args.timeout)
    say(f"work dir: {workdir}")
    cells: list[Cell] = []
    try:
        for name, workload in pairs:
            cells += run_scenario(ctx, name, workload, tools, repeats(args)[name])
    finally:
        ctx.empty_trash()
        if remove_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    doc = build_document(ctx, args, tools, cells)
    print(report.format_table(doc))
    if args.output != "-":
        out = Path(args.output)
        if not args.no_merge and out.exists():
            try:
                doc = report.merge(report.normalize(json.loads(out.read_text())), doc)
            except (ValueError, KeyError, TypeError) as exc:
                say(f"results: the previous {out} is not readable ({exc}); writing this run only")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        out.with_suffix(".md").write_text(report.format_markdown(doc))
        say(f"results: {out} and {out.with_suffix('.md')}")
    draw_charts(doc, args)
    return 0 if all(c.status != "failed" for c in cells) else 1


def draw_charts(doc: dict, args: argparse.Namespace) -> None:
    """The install chart (the top-level README's) and the resolve chart, each when it has results."""
    try:
        import chart
    except ImportError:
        say("chart: skipped, matplotlib is not installed (see bench/README.md)")
        return
    for kind, target in (("install", args.chart), ("resolve", args.resolve_chart)):
        if target == "-" or not any(r["kind"] == kind for r in doc["results"]):
            continue
        try:
            say(f"chart: {chart.render(doc, Path(target), kind)}")
        except ImportError:
            say("chart: skipped, matplotlib is not installed (see bench/README.md)")
            return


if __name__ == "__main__":
    sys.exit(main())
