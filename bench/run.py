#!/usr/bin/env python3
"""Benchmark pyx, uv and pip on the same pinned lock in one run: medians, ratios, peak RSS, a JSON record and a chart.

    python bench/run.py [--scenarios cold,warm,noop] [--repeat N] [--tools pyx,uv,pip]

Only the install step is timed (never venv creation). Repeats are interleaved across tools
(pyx, uv, pip, pyx, uv, pip, ...) so a slow spell of the network hits every tool alike. A
tool that fails in one scenario is reported as failed in the table; the run goes on.
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
from chart import repeat_text  # noqa: E402
from scenarios import DEFAULT_SCENARIOS, SCENARIOS, WORKLOADS, Context, StepFailed, failure  # noqa: E402
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
    """The outcome of one tool in one scenario: its samples, or why it has none."""

    scenario: str
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
                   help="repeats for the cold scenario only (each downloads the whole lock); default --repeat")
    p.add_argument("--workload", default="data-science", choices=sorted(WORKLOADS))
    p.add_argument("--python", default="python3.11", help="interpreter every venv is built on")
    p.add_argument("--pyx", default=None, help="pyx executable (default: the repository's .venv/bin/pyx)")
    p.add_argument("--uv", default=None, help="uv executable (default: PATH, then the bench venv)")
    p.add_argument("--workdir", default=None, help="where caches and venvs go (default: a new temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work dir (caches, venvs, logs); a --workdir is always kept")
    p.add_argument("--timeout", type=float, default=1200, help="seconds before one command is killed")
    p.add_argument("--output", default=str(RESULTS / "latest.json"), help="results file ('-' to skip)")
    p.add_argument("--chart", default=str(RESULTS / "chart.svg"), help="chart file ('-' to skip)")
    p.add_argument("--chart-only", action="store_true", help="redraw the chart and the Markdown table from --output and exit")
    args = p.parse_args(argv)
    if args.repeat < 1 or (args.cold_repeat is not None and args.cold_repeat < 1):
        p.error("--repeat and --cold-repeat must be at least 1")
    return args


def repeats(args: argparse.Namespace) -> dict[str, int]:
    """Timed repeats per selected scenario (cold may use fewer: each repeat downloads everything)."""
    return {name: (args.cold_repeat or args.repeat) if name == "cold" else args.repeat for name in args.scenarios}


def say(text: str) -> None:
    """Progress for the person watching, on stderr so the table on stdout stays clean."""
    print(text, file=sys.stderr, flush=True)


def discover(args: argparse.Namespace, python: Path) -> list[Tool]:
    """The requested tools in a fixed order, each with its version or the reason it cannot run."""
    finders = {"pyx": lambda: find_pyx(args.pyx), "uv": lambda: find_uv(args.uv), "pip": lambda: find_pip(python)}
    return [finders[name]() for name in TOOL_ORDER if name in args.tools]


def run_scenario(ctx: Context, scenario_name: str, tools: list[Tool], repeat: int) -> list[Cell]:
    """Measure every tool in one scenario, repeats interleaved across tools."""
    scenario = SCENARIOS[scenario_name]
    cells = {t.name: Cell(scenario_name, t.name) for t in tools}
    active: list[Tool] = []
    for tool in tools:
        cell = cells[tool.name]
        if not tool.available:
            cell.fail("n/a", tool.problem or "unavailable")
            continue
        try:
            say(f"[{scenario_name}] {tool.name}: set-up")
            scenario.setup(ctx, tool)
            active.append(tool)
        except Unsupported as exc:
            cell.fail("n/a", str(exc))
        except StepFailed as exc:
            cell.fail("failed", str(exc), exc.summary)
            say(f"[{scenario_name}] {tool.name}: FAILED — {exc.summary}")
    for i in range(repeat):
        for tool in list(active):
            cell = cells[tool.name]
            try:
                argv = scenario.prepare(ctx, tool, i)
                sample = ctx.timed(tool, argv, scenario_name)
                if not sample.ok:
                    raise failure(scenario_name, argv, sample)
                cell.samples.append(sample)
                say(f"[{scenario_name}] {tool.name}: run {i + 1}/{repeat} {sample.seconds:.3f} s, "
                    f"peak RSS {sample.peak_rss_mb:.0f} MB")
                scenario.finish(ctx, tool, i)
            except Unsupported as exc:
                cell.fail("n/a", str(exc))
                active.remove(tool)
            except StepFailed as exc:
                cell.fail("failed", str(exc), exc.summary)
                active.remove(tool)
                say(f"[{scenario_name}] {tool.name}: FAILED — {exc.summary}")
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
    """The results record: machine facts, versions, commands, and one entry per scenario and tool."""
    medians = {(c.scenario, c.tool): c.median for c in cells}
    python_version = ctx.python.name
    try:
        python_version = subprocess.run(
            [str(ctx.python), "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    results = []
    for c in cells:
        results.append({
            "scenario": c.scenario,
            "tool": c.tool,
            "status": c.status,
            "median_s": round(c.median, 4) if c.median is not None else None,
            "runs_s": [round(s.seconds, 4) for s in c.samples],
            "peak_rss_mb": round(max(s.peak_rss_mb for s in c.samples), 1) if c.samples else None,
            "cpu_s": round(statistics.median(s.cpu_seconds for s in c.samples), 3) if c.samples else None,
            "vs_uv": _round(_ratio(c.median, medians.get((c.scenario, "uv")))),
            "vs_pip": _round(_ratio(c.median, medians.get((c.scenario, "pip")))),
            "summary": c.summary,
            "error": c.error,
        })
    return {
        "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory_gb": _memory_gb(),
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "filesystem": _filesystem(ctx.workdir),
        },
        "python": {"version": python_version, "path": str(ctx.python)},
        "workload": {
            "name": ctx.workload.name,
            "title": ctx.workload.title,
            "lock": str(ctx.workload.lock.relative_to(BENCH.parent)),
            "pins": ctx.workload.pins,
            "installed_files": ctx.installed_files,
        },
        "repeat": repeats(args),
        "pyx_commit": _pyx_commit(),
        "isolation": ISOLATION,
        "tools": {
            t.name: {
                "version": t.version,
                "available": t.available,
                "problem": t.problem,
                "note": t.note,
                "commands": t.describe(),
            }
            for t in tools
        },
        "scenarios": {name: SCENARIOS[name].what for name in args.scenarios},
        "scenario_labels": {name: SCENARIOS[name].label for name in args.scenarios},
        "results": results,
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


def format_table(doc: dict) -> str:
    """The plain-text table printed at the end of a run."""
    head = ("scenario", "tool", "median", "× uv", "× pip", "peak RSS", "CPU", "runs (s) or reason")
    rows = [head]
    for r in doc["results"]:
        if r["status"] == "ok":
            rows.append((
                r["scenario"], r["tool"], f"{r['median_s']:.3f} s",
                f"{r['vs_uv']:.2f}" if r["vs_uv"] is not None else "—",
                f"{r['vs_pip']:.3f}" if r["vs_pip"] is not None else "—",
                f"{r['peak_rss_mb']:.0f} MB", f"{r['cpu_s']:.2f} s",
                " ".join(f"{s:.3f}" for s in r["runs_s"]),
            ))
        else:
            rows.append((r["scenario"], r["tool"], r["status"].upper(), "", "", "", "", (r["summary"] or "")[:110]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    versions = ", ".join(f"{name} {t['version']}" for name, t in doc["tools"].items())
    notes = "; ".join(f"{name} {t['note']}" for name, t in doc["tools"].items() if t["note"])
    m = doc["machine"]
    lines += [
        "",
        f"tools: {versions}",
        f"notes: {notes}",
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['filesystem']}, "
        f"CPython {doc['python']['version']}; {doc['workload']['pins']} pins, "
        f"{doc['workload']['installed_files'] or '?'} files installed; median of {repeat_text(doc['repeat'])}",
    ]
    return "\n".join(lines)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def format_markdown(doc: dict) -> str:
    """The results as a Markdown page (results/latest.md) that READMEs can quote or link to."""
    tools = list(doc["tools"])
    cells = {(r["scenario"], r["tool"]): r for r in doc["results"]}
    ratio_cols = [t for t in tools if t not in ("uv", "pip")]
    head = ["scenario", *tools] + [f"{t} ÷ {ref}" for t in ratio_cols for ref in ("uv", "pip") if ref in tools]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for scenario, label in doc["scenario_labels"].items():
        row = [label]
        for t in tools:
            c = cells.get((scenario, t))
            row.append(_fmt(c["median_s"]) if c and c["status"] == "ok" else (c["status"] if c else "—"))
        for t in ratio_cols:
            c = cells.get((scenario, t))
            for ref in ("uv", "pip"):
                if ref in tools:
                    v = c and c.get(f"vs_{ref}")
                    row.append(f"{v:.2f}" if v else "—")
        rows.append("| " + " | ".join(row) + " |")
    rss = " · ".join(
        f"{t} {max(r['peak_rss_mb'] for r in doc['results'] if r['tool'] == t and r['peak_rss_mb']):.0f} MB"
        for t in tools if any(r["tool"] == t and r["peak_rss_mb"] for r in doc["results"])
    )
    m, w = doc["machine"], doc["workload"]
    versions = ", ".join(
        f"{t} {v['version']}" + (f" (commit {doc['pyx_commit']})" if t == "pyx" and doc.get("pyx_commit") else "")
        for t, v in doc["tools"].items()
    )
    failures = [f"- {r['scenario']} / {r['tool']}: {r['status']} — {r['summary']}" for r in doc["results"]
                if r["status"] != "ok"]
    return "\n".join([
        f"# Benchmark results, {doc['date'][:10]}",
        "",
        f"Installing {w['pins']} pinned packages ({w['title']}; {w['installed_files'] or '?'} files) into a fresh venv.",
        f"{versions}; {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['filesystem']}, "
        f"CPython {doc['python']['version']}; median of {repeat_text(doc['repeat'])}. Lower is better.",
        "",
        *rows,
        "",
        f"Peak RSS (largest over the scenarios): {rss}.",
        *(["", "Not measured:", *failures] if failures else []),
        "",
        "Notes: " + "; ".join(f"{t} {v['note']}" for t, v in doc["tools"].items() if v["note"]) + ".",
        "Written by `bench/run.py`; every repeat and the CPU times are in `latest.json`.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios for the selected tools, print the table, write JSON and chart."""
    args = parse_args(argv)
    if args.chart_only:
        doc = json.loads(Path(args.output).read_text())
        import chart

        if args.chart != "-":
            say(f"chart: {chart.render(doc, Path(args.chart))}")
        Path(args.output).with_suffix(".md").write_text(format_markdown(doc))
        return 0

    python = find_python(args.python)
    tools = discover(args, python)
    for t in tools:
        say(f"{t.name}: {t.version} ({t.exe})" + (f" — not run: {t.problem}" if t.problem else ""))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="pyx-bench-"))
    remove_workdir = args.workdir is None and not args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(workdir=workdir, python=python, workload=WORKLOADS[args.workload], timeout=args.timeout)
    say(f"work dir: {workdir}")
    cells: list[Cell] = []
    try:
        for name in args.scenarios:
            cells += run_scenario(ctx, name, tools, repeats(args)[name])
    finally:
        ctx.empty_trash()
        if remove_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    doc = build_document(ctx, args, tools, cells)
    print(format_table(doc))
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        out.with_suffix(".md").write_text(format_markdown(doc))
        say(f"results: {out} and {out.with_suffix('.md')}")
    if args.chart != "-":
        try:
            import chart

            say(f"chart: {chart.render(doc, Path(args.chart))}")
        except ImportError:
            say("chart: skipped, matplotlib is not installed (see bench/README.md)")
    return 0 if all(c.status != "failed" for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
