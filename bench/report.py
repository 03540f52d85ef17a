"""Turn results records into the printed table and results/latest.md, and merge a run into the previous record.

A record (results/latest.json, schema 2) holds one entry per scenario, workload and tool.
Each entry carries its own date, pyx commit and tool version, because a run of only some
scenarios keeps the other scenarios' entries from the previous record (`merge`): the
install numbers and the resolve numbers may come from different runs, and the page says so.
"""

from __future__ import annotations

from typing import Any

from chart import repeat_text

SCHEMA = 2
TOOL_ORDER = ("pyx", "uv", "pip")
KIND_ORDER = ("install", "resolve", "env")
# The order scenarios and workloads appear in, whatever order a merge found them in.
SCENARIO_ORDER = ("cold", "warm", "noop", "noop-offline", "resolve-cold", "resolve-warm",
                  "run-in-sync", "notebook-env-warm")
WORKLOAD_ORDER = ("data-science", "jupyterlab", "backtracking")


def _index(order: tuple[str, ...], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _sort_key(r: dict[str, Any]) -> tuple[int, int, int, int]:
    """Install rows first, then resolve rows grouped by input (cold, then warm)."""
    return (_index(KIND_ORDER, r["kind"]), _index(WORKLOAD_ORDER, r["workload"]),
            _index(SCENARIO_ORDER, r["scenario"]), _index(TOOL_ORDER, r["tool"]))


def normalize(doc: dict[str, Any]) -> dict[str, Any]:
    """The record in schema 2, whatever schema it was written in (schema 1 had one install workload).

    Fills in what older records lack (workload, kind and provenance of each result) from the
    record's own top-level fields, so old results can be redrawn and merged.
    """
    doc = dict(doc)
    if doc.get("schema", 1) < 2:
        w = doc.pop("workload", {}) or {}
        name = w.get("name", "data-science")
        doc["workloads"] = {name: {
            "title": w.get("title", name), "lock": w.get("lock"), "requirements": None, "roots": [],
            "pins": w.get("pins", 0), "installed_files": w.get("installed_files"),
        }}
        tools = doc.get("tools", {})
        doc["results"] = [
            {**r, "workload": name, "kind": "install", "date": doc.get("date"), "pyx_commit": doc.get("pyx_commit"),
             "tool_version": tools.get(r["tool"], {}).get("version")}
            for r in doc.get("results", [])
        ]
        doc["scenario_kinds"] = {s: "install" for s in doc.get("scenarios", {})}
        doc["schema"] = SCHEMA
    doc.setdefault("agreement", [])
    doc.setdefault("scenario_kinds", {})
    for tool in doc.get("tools", {}).values():
        tool.setdefault("resolve_note", "")
    for r in doc.get("results", []):
        r.setdefault("kind", doc["scenario_kinds"].get(r["scenario"], "install"))
    doc["results"] = sorted(doc.get("results", []), key=_sort_key)
    doc["agreement"] = sorted(doc["agreement"], key=lambda a: _index(WORKLOAD_ORDER, a["workload"]))
    return doc


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` plus the results of `old` for every (scenario, workload) that `new` did not measure.

    A measured pair replaces all of its old entries (every tool), so ratios in one row always
    come from one run. The machine, Python and date at the top are the new run's.
    """
    measured = {(r["scenario"], r["workload"]) for r in new["results"]}
    kept = [r for r in old["results"] if (r["scenario"], r["workload"]) not in measured]
    merged = dict(new)
    merged["results"] = sorted(kept + new["results"], key=_sort_key)
    workloads = {name: dict(w) for name, w in old.get("workloads", {}).items()}
    for name, w in new["workloads"].items():
        previous = workloads.get(name, {})
        workloads[name] = {**w, "installed_files": w.get("installed_files") or previous.get("installed_files")}
    merged["workloads"] = workloads
    merged["tools"] = {**old.get("tools", {}), **new["tools"]}
    for key in ("scenarios", "scenario_labels", "scenario_kinds", "scenario_targets"):
        merged[key] = {**old.get(key, {}), **new.get(key, {})}
    resolved = {r["workload"] for r in new["results"] if r["kind"] == "resolve"}
    agreement = [a for a in old.get("agreement", []) if a["workload"] not in resolved] + new["agreement"]
    merged["agreement"] = sorted(agreement, key=lambda a: _index(WORKLOAD_ORDER, a["workload"]))
    return merged


def _runs(results: list[dict[str, Any]]) -> dict[str, int]:
    """Timed repeats per scenario, from the results themselves (a merged record mixes runs)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r["scenario"]] = max(counts.get(r["scenario"], 0), len(r["runs_s"]))
    return {k: v for k, v in counts.items() if v}


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _tools(doc: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    present = {r["tool"] for r in results}
    return [t for t in TOOL_ORDER if t in present] + sorted(present - set(TOOL_ORDER))


def format_table(doc: dict[str, Any]) -> str:
    """The plain-text table printed at the end of a run, with the resolutions' agreement below it."""
    head = ("scenario", "workload", "tool", "median", "× uv", "× pip", "peak RSS", "CPU", "runs (s) or reason")
    rows = [head]
    for r in sorted(doc["results"], key=_sort_key):
        if r["status"] == "ok":
            rows.append((
                r["scenario"], r["workload"], r["tool"], f"{r['median_s']:.3f} s",
                f"{r['vs_uv']:.2f}" if r["vs_uv"] is not None else "—",
                f"{r['vs_pip']:.3f}" if r["vs_pip"] is not None else "—",
                f"{r['peak_rss_mb']:.0f} MB", f"{r['cpu_s']:.2f} s",
                " ".join(f"{s:.3f}" for s in r["runs_s"]),
            ))
        else:
            rows.append((r["scenario"], r["workload"], r["tool"], r["status"].upper(), "", "", "", "",
                         (r["summary"] or "")[:110]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if doc.get("agreement"):
        lines += ["", "resolutions:"] + [f"  {a['line']}" for a in doc["agreement"]]
    versions = ", ".join(f"{name} {t['version']}" for name, t in doc["tools"].items())
    kinds = {r["kind"] for r in doc["results"]}
    notes = []
    for name, t in doc["tools"].items():
        if "install" in kinds and t["note"]:
            notes.append(f"{name} {t['note']}")
        if "resolve" in kinds and t.get("resolve_note"):
            notes.append(f"{name} (resolve) {t['resolve_note']}")
    m = doc["machine"]
    install = [w for w in doc["workloads"].values() if w.get("lock")]
    files = (f"; {install[0]['pins']} pins, {install[0]['installed_files'] or '?'} files installed"
             if install and "install" in kinds else "")
    lines += [
        "",
        f"tools: {versions}",
        f"notes: {'; '.join(notes)}",
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['filesystem']}, "
        f"CPython {doc['python']['version']}{files}; median of {repeat_text(_runs(doc['results']))}",
    ]
    return "\n".join(lines)


def _provenance(doc: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """'pyx 0.1.0 (commit abc), uv 0.13.9, pip 23.2.1; measured 2026-11-25' for one section's results."""
    tools = _tools(doc, results)
    versions = []
    for t in tools:
        found = sorted({r.get("tool_version") or doc["tools"].get(t, {}).get("version", "?")
                        for r in results if r["tool"] == t})
        text = f"{t} {' / '.join(found)}"
        if t == "pyx":
            commits = sorted({r.get("pyx_commit") for r in results if r["tool"] == t and r.get("pyx_commit")})
            if commits:
                text += f" (commit {' / '.join(commits)})"
        versions.append(text)
    dates = sorted({(r.get("date") or doc["date"])[:10] for r in results})
    return f"{', '.join(versions)}; measured {' and '.join(dates)}"


def _rss(results: list[dict[str, Any]], tools: list[str]) -> str:
    return " · ".join(
        f"{t} {max(r['peak_rss_mb'] for r in results if r['tool'] == t and r['peak_rss_mb']):.0f} MB"
        for t in tools if any(r["tool"] == t and r["peak_rss_mb"] for r in results)
    )


def _table(doc: dict[str, Any], results: list[dict[str, Any]], first: list[str], key, label, rss: bool) -> list[str]:
    """A Markdown table: one row per `key(result)` group, a column per tool, pyx's ratios, optional peak RSS."""
    tools = _tools(doc, results)
    cells = {(key(r), r["tool"]): r for r in results}
    groups = list(dict.fromkeys(key(r) for r in sorted(results, key=_sort_key)))
    ratio_cols = [t for t in tools if t not in ("uv", "pip")]
    head = [*first, *tools] + [f"{t} ÷ {ref}" for t in ratio_cols for ref in ("uv", "pip") if ref in tools]
    if rss:
        head.append("peak RSS " + " / ".join(tools))
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for group in groups:
        row = label(group)
        for t in tools:
            c = cells.get((group, t))
            row.append(_fmt(c["median_s"]) if c and c["status"] == "ok" else (c["status"] if c else "—"))
        for t in ratio_cols:
            c = cells.get((group, t))
            for ref in ("uv", "pip"):
                if ref in tools:
                    v = c and c.get(f"vs_{ref}")
                    row.append(f"{v:.2f}" if v else "—")
        if rss:
            mbs = [cells.get((group, t)) for t in tools]
            row.append(" / ".join(f"{c['peak_rss_mb']:.0f}" if c and c.get("peak_rss_mb") else "—" for c in mbs) + " MB")
        rows.append("| " + " | ".join(row) + " |")
    return rows


def _target_line(doc: dict[str, Any], scenario: str, target: dict[str, Any]) -> str:
    """'- run a script …: pyx ≤ 1.5× uv — met (pyx 0.12 s, 1.10× uv)': the goal, the medians, and whether they meet it."""
    label = doc.get("scenario_labels", {}).get(scenario, scenario)
    pyx = next((r for r in doc["results"] if r["scenario"] == scenario and r["tool"] == "pyx"), None)
    if pyx is None or pyx["status"] != "ok":
        return f"- {label}: {target['text']} — pyx not measured"
    ratio = pyx.get("vs_uv")
    checks = []  # (what, met) — met is None when it cannot be checked
    if target.get("max_s") is not None:
        checks.append((f"≤ {target['max_s']:g} s", pyx["median_s"] <= target["max_s"]))
    if target.get("max_vs_uv") is not None:
        checks.append((f"≤ {target['max_vs_uv']:g}× uv", ratio <= target["max_vs_uv"] if ratio is not None else None))
    if len(checks) == 1:
        met = checks[0][1]
        verdict = "not checked (no uv result)" if met is None else "met" if met else "missed"
    else:
        verdict = ", ".join(f"{what} {'not checked' if met is None else 'met' if met else 'missed'}"
                            for what, met in checks)
    numbers = f"pyx {_fmt(pyx['median_s'])}" + (f", {ratio:.2f}× uv" if ratio is not None else "")
    return f"- {label}: {target['text']} — {verdict} ({numbers})"


def format_markdown(doc: dict[str, Any]) -> str:
    """The record as a Markdown page (results/latest.md) that READMEs can quote or link to."""
    labels = doc.get("scenario_labels", {})
    m = doc["machine"]
    out = [
        f"# Benchmark results, {doc['date'][:10]}",
        "",
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['filesystem']}, CPython {doc['python']['version']}; "
        "live default index. Lower is better; ratios below 1 mean pyx is faster.",
    ]
    install = [r for r in doc["results"] if r["kind"] == "install"]
    if install:
        w = doc["workloads"].get(install[0]["workload"], {})
        out += [
            "",
            "## Installing",
            "",
            f"Installing {w.get('pins', '?')} pinned packages ({w.get('title', '?')}; "
            f"{w.get('installed_files') or '?'} files) into a fresh venv. {_provenance(doc, install)}; "
            f"median of {repeat_text(_runs(install))}.",
            "",
            *_table(doc, install, ["scenario"], key=lambda r: r["scenario"],
                    label=lambda s: [labels.get(s, s)], rss=False),
            "",
            f"Peak RSS (largest over the scenarios): {_rss(install, _tools(doc, install))}.",
        ]
    resolve = [r for r in doc["results"] if r["kind"] == "resolve"]
    if resolve:
        names = list(dict.fromkeys(r["workload"] for r in sorted(resolve, key=_sort_key)))
        out += [
            "",
            "## Resolving",
            "",
            "Resolving an unpinned input for this interpreter and writing the pins (`pyx pip compile`, "
            "`uv pip compile`; pip: `install --dry-run --ignore-installed --report`). "
            f"{_provenance(doc, resolve)}; median of {repeat_text(_runs(resolve))}. Inputs: "
            + "; ".join(f"{n} ({doc['workloads'].get(n, {}).get('title', n)})" for n in names) + ".",
            "",
            *_table(doc, resolve, ["input", "scenario"], key=lambda r: (r["workload"], r["scenario"]),
                    label=lambda g: [g[0], labels.get(g[1], g[1])], rss=True),
        ]
        agreement = [a for a in doc.get("agreement", []) if a["workload"] in names]
        if agreement:
            out += ["", "Do the tools pick the same versions?", "", *(f"- {a['line']}" for a in agreement)]
    env = [r for r in doc["results"] if r["kind"] == "env"]
    if env:
        out += [
            "",
            "## Scripts and notebooks",
            "",
            "A PEP 723 script and a notebook (juv's layout: the `# /// script` block in its first code cell) "
            f"declaring the same six roots, unpinned. {_provenance(doc, env)}; median of {repeat_text(_runs(env))}.",
            "",
            *_table(doc, env, ["scenario"], key=lambda r: r["scenario"],
                    label=lambda s: [labels.get(s, s)], rss=True),
            "",
            *(f"- {labels.get(s, s)}: {what}" for s, what in doc.get("scenarios", {}).items()
              if any(r["scenario"] == s for r in env)),
        ]
        targets = [_target_line(doc, s, t) for s, t in doc.get("scenario_targets", {}).items()
                   if any(r["scenario"] == s for r in env)]
        if targets:
            out += ["", "Targets (issue 4):", "", *targets]
    failures = [f"- {r['scenario']} / {r['workload']} / {r['tool']}: {r['status']} — {r['summary']}"
                for r in doc["results"] if r["status"] != "ok"]
    notes = []
    for t, v in doc["tools"].items():
        if install and v.get("note"):
            notes.append(f"{t} {v['note']}")
        if resolve and v.get("resolve_note"):
            notes.append(f"{t} (resolving) {v['resolve_note']}")
    out += [
        *(["", "Not measured:", *failures] if failures else []),
        "",
        "Notes: " + "; ".join(notes) + ".",
        "Written by `bench/run.py`; every repeat and the CPU times are in `latest.json`.",
        "",
    ]
    return "\n".join(out)
