"""The `pyx gpu` command: what accelerator this machine has, which PyTorch variant pyx would pick, and why.

``pyx gpu`` works offline: without a variant index (``PYX_TORCH_INDEX_URL`` /
``--torch-index-url`` unset, or unreachable) it chooses by the driver table alone and says the
index was not consulted; with one, it narrows the choice to what the index offers for the
newest ``torch``. ``pyx gpu variants PACKAGE [--version V]`` lists every variant the index
offers, with sizes and verdicts (the JupyterLab GPU card shows the same data). All decisions
live in ``engine.api.gpu``; this module parses flags and renders.
"""

from __future__ import annotations

import argparse


def add_parsers(commands, global_options, index_options) -> None:
    """Register ``pyx gpu`` (and ``pyx gpu variants``) on the top-level sub-command parser.

    ``index_options`` is accepted for symmetry with the other fronts' ``add_parsers``; the
    variant index is configured by ``--torch-index-url`` instead, so ``--index-url`` keeps
    meaning the default index everywhere.
    """
    del index_options
    gpu = commands.add_parser("gpu", help="show the GPU, and which PyTorch variant pyx would install")
    _gpu_options(gpu, top=True)
    global_options(gpu)
    subs = gpu.add_subparsers(dest="gpu_command", metavar="COMMAND")
    variants = subs.add_parser("variants", help="list the variants the PyTorch index offers for a package")
    variants.add_argument("package", metavar="PACKAGE", help="a PyTorch-family package, e.g. torch")
    variants.add_argument("--version", dest="package_version", metavar="V", help="the version to list (default: the newest)")
    _gpu_options(variants, top=False)
    global_options(variants)


def _gpu_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    def default(value):
        return value if top else argparse.SUPPRESS

    p.add_argument("--format", choices=("text", "json"), default=default("text"), help="output format")
    p.add_argument(
        "--torch-backend",
        metavar="BACKEND",
        default=default(None),
        help="auto, cpu, cuXYZ, rocmX.Y or xpu: an explicit choice always wins (PYX_TORCH_BACKEND)",
    )
    p.add_argument(
        "--torch-index-url",
        metavar="URL",
        default=default(None),
        help="base URL of the per-variant indexes, <URL>/<variant>/ (PYX_TORCH_INDEX_URL)",
    )
    p.add_argument("--offline", action="store_true", default=default(False), help="use only the cache; never touch the network")


def _readers():
    """How detection touches the machine: None, the engine's default (the real machine, with
    the context's environment variables). Tests replace this function with fake readers."""
    return None


def cmd_gpu(args, console, helpers=None) -> int:
    """``pyx gpu`` and ``pyx gpu variants``: the engine decides (``engine.api.gpu``), this renders."""
    from pyx_server.cli.flags import context
    from pyx_server.cli.progressbars import reporter_for
    from pyx_server.engine.api.blocking import run
    from pyx_server.engine.api.gpu import gpu_report, gpu_variants

    del helpers  # accepted for the callers that still pass it
    with reporter_for(console, enabled=False) as reporter:
        ctx = context(args, reporter=reporter, gpu=_readers())
        if getattr(args, "gpu_command", None) == "variants":
            result = run(gpu_variants(ctx, args.package, version=args.package_version,
                                      torch_backend=args.torch_backend, torch_index_url=args.torch_index_url))
            return _render_variants(args, console, result)
        result = run(gpu_report(ctx, torch_backend=args.torch_backend, torch_index_url=args.torch_index_url))
    return _render_report(args, console, result)


# -- pyx gpu -------------------------------------------------------------------------------------


def _render_report(args, console, report) -> int:
    from pyx_server.cli.render import as_json

    if args.format == "json":
        console.data(as_json(report))
        return 0
    accelerator, choice, index = report.accelerator, report.choice, report.index
    lines = [f"{console.bold('Accelerator')}: {accelerator.summary}"]
    for number, device in enumerate(accelerator.devices):
        lines.append(f"  GPU {number}: {_describe_device(device)}")
    if accelerator.found_by:
        lines.append(f"  found by: {accelerator.found_by}")
    lines.append(f"  platform: {accelerator.platform} {accelerator.machine}")
    lines.append(f"{console.bold('Variant')}: {choice.variant}" + (" (explicit)" if choice.explicit else ""))
    lines.append(f"  why: {choice.reason}")
    if choice.compatible:
        shown = list(choice.compatible)
        text = ", ".join(shown[:8]) + (f", … ({len(shown) - 8} more)" if len(shown) > 8 and not console.verbose else "")
        if console.verbose:
            text = ", ".join(shown)
        lines.append(f"  this machine runs: {text}")
    lines.append(f"  variant index: {index.url or '(none)'} — {index.note}")
    lines += [f"  hint: {hint}" for hint in index.hints]
    if console.verbose:
        lines.append(console.bold("Sources consulted") + ":")
        width = max((len(p.source) for p in accelerator.sources), default=0)
        outcome_width = max((len(p.outcome) for p in accelerator.sources), default=0)
        for probe in accelerator.sources:
            lines.append(f"  {probe.source.ljust(width)}  {probe.outcome.ljust(outcome_width)}  {probe.detail}".rstrip())
    console.data("\n".join(lines))
    for warning in report.warnings:
        console.warn(warning.message)
    return 0


def _describe_device(device) -> str:
    parts = [device.name or device.architecture or device.vendor]
    if device.memory_mib is not None:
        parts.append(f"{device.memory_mib} MiB")
    if device.compute_capability:
        parts.append(f"compute capability {device.compute_capability}")
    if device.architecture and device.name:
        parts.append(device.architecture)
    if device.pci_address:
        parts.append(f"PCI {device.pci_address}")
    return ", ".join(parts)


# -- pyx gpu variants ---------------------------------------------------------------------------------


def _render_variants(args, console, listing) -> int:
    from pyx_server.cli.render import as_json

    if args.format == "json":
        console.data(as_json(listing))
    else:
        rows = [("", "variant", "version", "size", "verdict")]
        for info in listing.variants:
            verdict = "compatible" if info.compatible else f"no: {info.reason}"
            if info.judged_by == "variant metadata":
                verdict += f" [variant metadata `{info.label}`]"
            rows.append(("→" if info.chosen else "", info.variant, info.version, _size(info.size), verdict))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"{console.bold(listing.package)} {listing.version} on {listing.index_url} — {listing.accelerator.summary}"]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        lines.append(f"pyx would install: {listing.choice.variant} ({listing.choice.reason})")
        console.data("\n".join(line.rstrip() for line in lines))
    for warning in listing.warnings:
        console.warn(warning.message)
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
