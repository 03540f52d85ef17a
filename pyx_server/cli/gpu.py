"""The `pyx gpu` command: what accelerator this machine has, which PyTorch variant pyx would pick, and why.

``pyx gpu`` works offline: without a variant index (``PYX_TORCH_INDEX_URL`` /
``--torch-index-url`` unset, or unreachable) it chooses by the driver table alone and says the
index was not consulted; with one, it narrows the choice to what the index offers for the
newest ``torch``. ``pyx gpu variants PACKAGE [--version V]`` lists every variant the index
offers, with sizes and verdicts (the JupyterLab GPU card shows the same data). All decisions
live in ``pyx_server.engine.gpu``; this module parses flags and renders.
"""

from __future__ import annotations

import argparse
import json
import os

from pyx_server.engine.errors import PyxError

EXIT_ERROR = 2


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
    """The machine's real sources (tests replace this function)."""
    from pyx_server.engine.gpu import Readers

    return Readers()


def _base_url(args):
    """``(base URL, None)``, or ``(None, the engine's TorchIndexNotConfigured)`` to tell what to set."""
    from pyx_server.engine.errors import TorchIndexNotConfigured
    from pyx_server.engine.gpu import torch_index_base

    env = dict(os.environ)
    if args.torch_index_url:
        env["PYX_TORCH_INDEX_URL"] = args.torch_index_url
    try:
        return torch_index_base(env), None
    except TorchIndexNotConfigured as err:
        return None, err


def cmd_gpu(args, console, helpers) -> int:
    """``pyx gpu`` and ``pyx gpu variants``."""
    from pyx_server.engine.gpu import detect

    accelerator = detect(_readers(), torch_backend=args.torch_backend)
    if getattr(args, "gpu_command", None) == "variants":
        return _cmd_variants(args, console, helpers, accelerator)
    return _cmd_show(args, console, helpers, accelerator)


# -- pyx gpu -------------------------------------------------------------------------------------


def _cmd_show(args, console, helpers, accelerator) -> int:
    from pyx_server.engine.config import redact_url
    from pyx_server.engine.gpu import choose_variant

    base, missing = _base_url(args)
    offered: list[str] | None = None
    choice = None
    hints: list[str] = []
    note: str
    if accelerator.backend:
        note = "not consulted: the variant was chosen explicitly"
    elif accelerator.kind == "apple":
        note = "not needed: Apple silicon uses the default index's build"
    elif base is None:
        note = "not consulted: `PYX_TORCH_INDEX_URL` (or `--torch-index-url`) is not set"
        hints = list(missing.hints)
    else:
        offered, choice, note = _offered_for_torch(args, helpers, accelerator, base)
    if choice is None:
        choice = choose_variant(accelerator, offered)
    warnings = [str(w) for w in (*accelerator.warnings, *choice.warnings)]

    if args.format == "json":
        payload = {
            "variant": choice.variant,
            "reason": choice.reason,
            "explicit": choice.explicit,
            "routed": choice.routed,
            "compatible": list(choice.compatible),
            "index": {
                "url": redact_url(base) if base else None,
                "consulted": choice.index_consulted,
                "offered": offered,
                "note": note,
                "hints": hints,
            },
            "warnings": warnings,
            "accelerator": accelerator.to_dict(),
        }
        console.data(json.dumps(payload, indent=2))
        return 0

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
    lines.append(f"  variant index: {redact_url(base) if base else '(none)'} — {note}")
    lines += [f"  hint: {hint}" for hint in hints]
    if console.verbose:
        lines.append(console.bold("Sources consulted") + ":")
        width = max((len(p.source) for p in accelerator.sources), default=0)
        outcome_width = max((len(p.outcome) for p in accelerator.sources), default=0)
        for probe in accelerator.sources:
            lines.append(f"  {probe.source.ljust(width)}  {probe.outcome.ljust(outcome_width)}  {probe.detail}".rstrip())
    console.data("\n".join(lines))
    for warning in warnings:
        console.warn(warning)
    return 0


def _offered_for_torch(args, helpers, accelerator, base: str):
    """``(offered variants, choice, note)`` for the newest torch on this interpreter; the first two
    are None (and the note says why) when the index could not be asked."""
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.gpu import choose_from_listing, list_variants

    try:
        infos = run_engine(
            list_variants("torch", None, accelerator, base_url=base, cache=helpers.cache(args), offline=args.offline)
        )
    except PyxError as err:
        return None, None, f"could not be consulted ({err.message}); chose by the driver table"
    offered = [info.variant for info in infos if info.filename is not None]
    version = infos[0].version.split("+", 1)[0] if infos else "?"
    judged = [i.variant for i in infos if i.judged_by == "variant metadata"]
    declared = f" ({', '.join(judged)} judged by their variant metadata)" if judged else ""
    note = f"consulted: torch {version} is offered as {', '.join(offered) or 'nothing for this platform'}{declared}"
    return offered, choose_from_listing(accelerator, infos), note


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


def _cmd_variants(args, console, helpers, accelerator) -> int:
    from pyx_server.engine.loop import run as run_engine

    from pyx_server.engine.config import redact_url
    from pyx_server.engine.gpu import choose_from_listing, list_variants
    from pyx_server.engine.progress import Notice, Reporter

    base, missing = _base_url(args)
    if missing is not None:
        raise missing  # one readable error that says what to set
    notices: list[Notice] = []

    class _Notices(Reporter):
        def report(self, event) -> None:
            if isinstance(event, Notice):
                notices.append(event)

    infos = run_engine(
        list_variants(
            args.package,
            args.package_version,
            accelerator,
            base_url=base,
            cache=helpers.cache(args),
            offline=args.offline,
            reporter=_Notices(),
        )
    )
    choice = choose_from_listing(accelerator, infos)
    version = infos[0].version.split("+", 1)[0] if infos else args.package_version
    warnings = [*(str(w) for w in (*accelerator.warnings, *choice.warnings)), *(n.message for n in notices)]
    if args.format == "json":
        payload = {
            "package": args.package,
            "version": version,
            "index_url": redact_url(base),
            "variant": choice.variant,
            "reason": choice.reason,
            "explicit": choice.explicit,
            "warnings": warnings,
            "variants": [info.to_dict() for info in infos],
            "accelerator": accelerator.to_dict(),
        }
        console.data(json.dumps(payload, indent=2))
    else:
        rows = [("", "variant", "version", "size", "verdict")]
        for info in infos:
            verdict = "compatible" if info.compatible else f"no: {info.reason}"
            if info.judged_by == "variant metadata":
                verdict += f" [variant metadata `{info.label}`]"
            rows.append(("→" if info.chosen else "", info.variant, info.version, _size(info.size), verdict))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"{console.bold(args.package)} {version} on {redact_url(base)} — {accelerator.summary}"]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        lines.append(f"pyx would install: {choice.variant} ({choice.reason})")
        console.data("\n".join(line.rstrip() for line in lines))
    for warning in warnings:
        console.warn(warning)
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
