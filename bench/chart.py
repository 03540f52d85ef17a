"""Draw the charts from a results file: grouped bars per scenario (and input), one bar per tool, log scale.

`results/chart.svg` (the top-level README's) shows the install scenarios, `results/resolve.svg`
the resolve scenarios, one group per input and scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"pyx": "#2f6fdf", "uv": "#9b4dca", "pip": "#8a8f98"}
FALLBACK_COLORS = ("#2a9d8f", "#e76f51", "#264653")


def _seconds(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 10:
        return f"{value:.2f} s"
    return f"{value:.1f} s"


def repeat_text(repeat: dict[str, int] | int) -> str:
    """'3', or '3 (cold: 2)' when scenarios differ, for the table footer and the chart."""
    if isinstance(repeat, int):
        return str(repeat)
    counts = sorted(set(repeat.values()), key=list(repeat.values()).count, reverse=True)
    if len(counts) <= 1:
        return str(counts[0]) if counts else "?"
    common = counts[0]
    others = ", ".join(f"{k}: {v}" for k, v in repeat.items() if v != common)
    return f"{common} ({others})"


def render(doc: dict[str, Any], path: Path, kind: str = "install") -> Path:
    """Write the `kind` ("install" or "resolve") chart of `doc` (results JSON, schema 2) to `path` (.svg or .png).

    Seconds span three orders of magnitude (a no-op in milliseconds, pip's install in tens of
    seconds), so the axis is logarithmic and every bar carries its value.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "pyx-bench", "font.size": 10})

    results = [r for r in doc["results"] if r.get("kind", "install") == kind]
    if kind == "resolve":
        def key(r: dict[str, Any]) -> Any:
            return (r["workload"], r["scenario"])
    else:
        def key(r: dict[str, Any]) -> Any:
            return r["scenario"]
    scenarios = list(dict.fromkeys(key(r) for r in results))
    tools = list(dict.fromkeys(r["tool"] for r in results))
    cells = {(key(r), r["tool"]): r for r in results}
    labels = doc.get("scenario_labels", {})

    fig, ax = plt.subplots(figsize=(8.6 if kind == "install" else 11.5, 4.8), dpi=110)
    width = 0.8 / max(len(tools), 1)
    values = [r["median_s"] for r in results if r.get("median_s")]
    floor = min(values) / 3 if values else 0.01
    for t, tool in enumerate(tools):
        color = COLORS.get(tool) or FALLBACK_COLORS[t % len(FALLBACK_COLORS)]
        version = doc["tools"].get(tool, {}).get("version", "")
        for s, scenario in enumerate(scenarios):
            x = s + (t - (len(tools) - 1) / 2) * width
            cell = cells.get((scenario, tool))
            if cell and cell["status"] == "ok":
                ax.bar(x, cell["median_s"], width * 0.92, color=color,
                       label=f"{tool} {version}" if s == 0 else None)
                text = _seconds(cell["median_s"])
                if tool not in ("uv", "pip") and cell.get("vs_uv"):
                    text += f"\n{cell['vs_uv']:.2g}× uv"
                ax.annotate(text, (x, cell["median_s"]), xytext=(0, 3),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8.5)
            else:
                text = "failed" if cell and cell["status"] == "failed" else "n/a"
                ax.bar(x, 0, width * 0.92, color=color, label=f"{tool} {version}" if s == 0 else None)
                ax.annotate(text, (x, floor), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8.5, color="#b00020", rotation=90)

    ax.set_yscale("log")
    ax.set_ylim(bottom=floor, top=(max(values) * 6) if values else 10)
    if kind == "resolve":
        short = {"resolve-cold": "cold cache", "resolve-warm": "warm cache"}
        ticks = [f"{w}\n{short.get(s, labels.get(s, s))}" for w, s in scenarios]
    else:
        ticks = [labels.get(s, s) for s in scenarios]
    ax.set_xticks(range(len(scenarios)), ticks)
    ax.set_ylabel("seconds, log scale (lower is better)")
    if kind == "resolve":
        ax.set_title("Resolve an unpinned input and write the pins (compile)\n"
                     "median wall time — lower is better", fontsize=10.5)
    else:
        workload = doc["workloads"][results[0]["workload"]] if results else {"pins": "?", "title": "?"}
        ax.set_title(
            f"Install {workload['pins']} pinned packages ({workload['title']}) into a fresh venv\n"
            "median wall time — lower is better",
            fontsize=10.5,
        )
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", which="major", alpha=0.3)
    # resolve groups run left to right from the small inputs to the backtracking one: its tall
    # pip bars sit on the right, so the legend goes left there
    ax.legend(frameon=False, loc="upper left" if kind == "resolve" else "upper right")
    machine = doc["machine"]
    if kind == "resolve":
        how = "pip: install --dry-run --report, which downloads the wheels it inspects"
    else:
        resolving = [n for n in tools if doc["tools"].get(n, {}).get("note", "").startswith("resolves")]
        pinned = [n for n in tools if n not in resolving]
        how = "; ".join(filter(None, [
            f"{' and '.join(resolving)} {'resolves' if len(resolving) == 1 else 'resolve'} the lock" if resolving else "",
            f"{' and '.join(pinned)} {'installs' if len(pinned) == 1 else 'install'} the pins as given" if pinned else "",
        ]))
    runs: dict[str, int] = {}
    for r in results:
        runs[r["scenario"]] = max(runs.get(r["scenario"], 0), len(r.get("runs_s", [])))
    fig.text(
        0.01, 0.01,
        f"{machine['cores']} cores, {machine['memory_gb']} GB, {machine['filesystem']}; "
        f"CPython {doc['python']['version']}; median of {repeat_text({k: v for k, v in runs.items() if v})}; "
        f"live default index; {how}.",
        fontsize=7.5, color="#555555",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return path
