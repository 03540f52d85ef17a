"""``gpu_report`` and ``gpu_variants``: this machine's accelerator, the PyTorch variant pyx would pick, and why.

The decision flow every front shows (``pyx gpu``, the JupyterLab GPU card, ``%pyx gpu``):
detect the accelerator (an explicit ``torch_backend`` always wins); then, unless the choice
is already made, ask the PyTorch-style variant index what it offers for the newest
``torch`` and narrow the choice to that; without an index (not configured, unreachable)
choose by the driver table alone and say why the index was not consulted. Works offline.

GPU detection touches the machine through ``Context.gpu`` (fake ``/proc`` and tools in
tests); by default the real machine, with the context's environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyx_server.engine.errors import Hint, PyxError, PyxWarning
from pyx_server.engine.gpu import Accelerator, Choice, GpuDevice, Probe

if TYPE_CHECKING:
    from pyx_server.engine.api.context import Context
    from pyx_server.engine.gpu import VariantInfo  # loads the index client: not at import

#: the detection and choice types are re-exported: the data a front renders
__all__ = ["Accelerator", "Choice", "GpuDevice", "GpuReport", "GpuVariants", "Probe", "VariantIndexStatus",
           "gpu_report", "gpu_variants"]


@dataclass(frozen=True)
class VariantIndexStatus:
    """Whether the variant index took part in the choice, and what it offered."""

    #: the index's base URL (credentials removed), None when none is configured
    url: str | None
    consulted: bool
    #: the variants offering a ``torch`` wheel for this interpreter; None when not asked
    offered: tuple[str, ...] | None
    #: one sentence for people: why it was (not) consulted, what it offered
    note: str
    #: what to do to have it consulted (set ``PYX_TORCH_INDEX_URL`` …)
    hints: tuple[Hint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "consulted": self.consulted,
                "offered": list(self.offered) if self.offered is not None else None,
                "note": self.note, "hints": [str(h) for h in self.hints]}


@dataclass(frozen=True)
class GpuReport:
    """The accelerator (kind, driver, devices, every source consulted) and the variant choice
    (variant, reason, explicit, compatible variants) with the variant index's part in it."""

    accelerator: Accelerator
    choice: Choice
    index: VariantIndexStatus
    warnings: tuple[PyxWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.choice.variant,
            "reason": self.choice.reason,
            "explicit": self.choice.explicit,
            "routed": self.choice.routed,
            "compatible": list(self.choice.compatible),
            "index": self.index.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "accelerator": self.accelerator.to_dict(),
        }


@dataclass(frozen=True)
class GpuVariants:
    """Every variant a PyTorch-style index offers for one package version, with sizes and
    verdicts, and the one pyx would install."""

    package: str
    #: the version listed (without its local label), None when nothing was listed
    version: str | None
    #: the variant index's base URL, credentials removed
    index_url: str
    accelerator: Accelerator
    choice: Choice
    variants: tuple[VariantInfo, ...] = ()
    warnings: tuple[PyxWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "index_url": self.index_url,
            "variant": self.choice.variant,
            "reason": self.choice.reason,
            "explicit": self.choice.explicit,
            "warnings": [w.to_dict() for w in self.warnings],
            "variants": [info.to_dict() for info in self.variants],
            "accelerator": self.accelerator.to_dict(),
        }


async def gpu_report(ctx: Context, *, torch_backend: str | None = None, torch_index_url: str | None = None) -> GpuReport:
    """What accelerator this machine has and which PyTorch variant pyx would install.

    ``torch_backend`` (``auto``, ``cpu``, ``cuXYZ``, ``rocmX.Y``, ``xpu``) beats
    ``PYX_TORCH_BACKEND`` and detection; ``torch_index_url`` beats ``PYX_TORCH_INDEX_URL``.
    An unreachable index is not an error: the choice falls back to the driver table.
    """
    from pyx_server.engine.config import redact_url
    from pyx_server.engine.gpu import choose_variant

    ctx = ctx.new_operation("gpu-report")
    accelerator = await _detect(ctx, torch_backend)
    base, missing = _base_url(ctx, torch_index_url)
    offered: tuple[str, ...] | None = None
    choice = None
    hints: tuple[Hint, ...] = ()
    notices: list[PyxWarning] = []
    if accelerator.backend:
        note = "not consulted: the variant was chosen explicitly"
    elif accelerator.kind == "apple":
        note = "not needed: Apple silicon uses the default index's build"
    elif base is None:
        note = "not consulted: `PYX_TORCH_INDEX_URL` (or `--torch-index-url`) is not set"
        hints = tuple(Hint(h, getattr(h, "action", None) or "set-torch-index") for h in missing.hints)
    else:
        offered, choice, note = await _offered_for_torch(ctx, accelerator, base, notices)
    if choice is None:
        choice = choose_variant(accelerator, list(offered) if offered is not None else None)
    index = VariantIndexStatus(redact_url(base) if base else None, choice.index_consulted, offered, note, hints)
    return GpuReport(accelerator, choice, index, (*_warnings(accelerator, choice), *notices))


async def gpu_variants(
    ctx: Context,
    package: str = "torch",
    *,
    version: str | None = None,
    torch_backend: str | None = None,
    torch_index_url: str | None = None,
) -> GpuVariants:
    """Every variant the PyTorch index offers for ``package`` at ``version`` (newest when
    None), with verdicts for this machine. Without a configured index this is a
    ``torch-index-not-configured`` error that says what to set."""
    from pyx_server.engine.config import redact_url
    from pyx_server.engine.gpu import choose_from_listing, list_variants

    ctx = ctx.new_operation("gpu-variants")
    accelerator = await _detect(ctx, torch_backend)
    base, missing = _base_url(ctx, torch_index_url)
    if missing is not None:
        raise missing
    notices: list[PyxWarning] = []
    infos = await list_variants(package, version, accelerator, base_url=base, cache=ctx.cache,
                                offline=ctx.index.offline, env=ctx.env, reporter=_notices_to(ctx, notices))
    choice = choose_from_listing(accelerator, infos)
    listed = infos[0].version.split("+", 1)[0] if infos else version
    return GpuVariants(package, listed, redact_url(base), accelerator, choice, tuple(infos),
                       (*_warnings(accelerator, choice), *notices))


async def _detect(ctx: Context, torch_backend: str | None):
    """Detection is blocking (files, bounded tool runs): off a running loop."""
    from pyx_server.engine.gpu import Readers, detect
    from pyx_server.engine.loop import to_thread

    readers = ctx.gpu if ctx.gpu is not None else Readers(env=ctx.env)
    return await to_thread(lambda: detect(readers, torch_backend=torch_backend))


def _base_url(ctx, torch_index_url: str | None):
    """``(base URL, None)``, or ``(None, the TorchIndexNotConfigured error)`` that says what to set."""
    from pyx_server.engine.errors import TorchIndexNotConfigured
    from pyx_server.engine.gpu import torch_index_base

    env = dict(ctx.env)
    if torch_index_url:
        env["PYX_TORCH_INDEX_URL"] = torch_index_url
    try:
        return torch_index_base(env), None
    except TorchIndexNotConfigured as err:
        return None, err


async def _offered_for_torch(ctx: Context, accelerator, base: str, notices: list[PyxWarning]):
    """``(offered variants, choice, note)`` for the newest torch on this interpreter; the
    first two are None (and the note says why) when the index could not be asked."""
    from pyx_server.engine.gpu import choose_from_listing, list_variants

    try:
        infos = await list_variants("torch", None, accelerator, base_url=base, cache=ctx.cache,
                                    offline=ctx.index.offline, env=ctx.env, reporter=_notices_to(ctx, notices))
    except PyxError as err:
        return None, None, f"could not be consulted ({err.message}); chose by the driver table"
    offered = tuple(info.variant for info in infos if info.filename is not None)
    listed = infos[0].version.split("+", 1)[0] if infos else "?"
    judged = [i.variant for i in infos if i.judged_by == "variant metadata"]
    declared = f" ({', '.join(judged)} judged by their variant metadata)" if judged else ""
    note = f"consulted: torch {listed} is offered as {', '.join(offered) or 'nothing for this platform'}{declared}"
    return offered, choose_from_listing(accelerator, infos), note


def _warnings(accelerator, choice) -> tuple[PyxWarning, ...]:
    """Detection's and the choice's warnings (a GPU without its driver, a build that cannot
    use the GPU): already values with their own codes."""
    return (*accelerator.warnings, *choice.warnings)


def _notices_to(ctx, notices: list[PyxWarning]):
    """The context's reporter (stamped with the operation), except that warning notices are
    kept as the result's warnings instead of shown on their own."""
    from pyx_server.engine.progress import Notice, Reporter, for_operation

    inner = for_operation(ctx.reporter, ctx.operation)

    class _Keeping(Reporter):
        wants_progress = inner.wants_progress

        def no_threads(self):
            return inner.no_threads()

        def report(self, event) -> None:
            if isinstance(event, Notice) and event.level == "warning":
                notices.append(PyxWarning(event.code or "gpu-index", event.message,
                                          hints=tuple(Hint(h) for h in event.hints)))
            else:
                inner.report(event)

    return _Keeping()
