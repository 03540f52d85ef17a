"""Where the PyTorch family comes from on this machine, recorded as uv's index and source
tables in the declaration's text (nothing is written here)."""

from __future__ import annotations

from collections.abc import Sequence

from pyx_server.engine.cache import Cache
from pyx_server.engine.declared.model import Declaration
from pyx_server.engine.errors import PyxError
from pyx_server.engine.progress import Reporter


async def route_gpu_packages(
    declaration: Declaration,
    requirements: Sequence[str],
    *,
    cache: Cache,
    torch_backend: str | None = None,
    readers=None,
    env=None,
    tags: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    text: str,
):
    """Record where the PyTorch family comes from for this machine, before it is locked.

    Detects the accelerator (with the GPUs' compute capabilities), chooses the variant — the
    newest this machine runs among those the variant index offers for the newest version of the
    first family member, judged by the index's PEP 825 variant metadata where it has some — and
    gives ``text`` (the declaration's) with uv's ``[[tool.uv.index]]`` + ``[tool.uv.sources]``
    entries, so ``uv run`` installs the same build. ``tags`` are the target interpreter's
    (default: pyx's own). Returns ``(Choice, new text)``; the ``Choice``'s ``warnings`` are for
    the front to show (``(None, text)`` when nothing in ``requirements`` is in the family).

    The variant index is ``PYX_TORCH_INDEX_URL``, else the one the file already routes the
    family to; without either nothing can be routed: ``TorchIndexNotConfigured`` says what to set.
    """
    from packaging.requirements import Requirement

    from pyx_server.engine.gpu import choose_variant, detect, is_torch_family, torch_index_base, torch_routing
    from pyx_server.engine.gpu.listing import choose_from_listing, discover_variants, list_variants

    family = [r for r in requirements if is_torch_family(Requirement(r).name)]
    if not family:
        return None, text
    recorded = [url for name, urls in declaration.pinned if is_torch_family(name) for url in urls]
    base = torch_index_base(env, recorded)
    from pyx_server.engine.loop import to_thread

    accelerator = await to_thread(lambda: detect(readers, torch_backend=torch_backend))
    requirement = Requirement(family[0])
    pinned = [s.version for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
    try:
        infos = await list_variants(requirement.name, pinned[0] if pinned else None, accelerator, base_url=base,
                                    cache=cache, tags=tags, env=env, reporter=reporter)
        choice = choose_from_listing(accelerator, infos)
    except PyxError:
        try:  # the package's pages could not be read: which variants exist is still worth knowing
            offered = await discover_variants(base, cache, env=env)
        except PyxError:
            offered = None  # the table alone decides; the lock step will say if the index lacks it
        choice = choose_variant(accelerator, offered)
    routing = torch_routing(accelerator, choice, family, base_url=base, env=env)
    if not routing:
        return choice, text
    index_entry = routing["index"][0]
    path = declaration.path
    if declaration.kind == "project":
        from pyx_server.engine.project import UvSource, add_uv_index_to_text, set_uv_source_in_text
        from pyx_server.engine.uvindex import UvIndex

        text = add_uv_index_to_text(text, UvIndex(url=index_entry["url"], name=index_entry["name"], explicit=True),
                                    path=path)
        for name, source in routing["sources"].items():
            text = set_uv_source_in_text(text, name, UvSource(index=source["index"], marker=source.get("marker")),
                                         path=path)
        return choice, text
    from pyx_server.engine.inline import SetToolTable, apply_edit, parse_text

    meta = parse_text(text, path)
    existing = list(meta.uv.get("index", [])) if meta is not None else []
    # a new choice replaces the previous variant index (pyx names them all `pytorch-…`)
    indexes = [dict(i) for i in existing if not str(i.get("name", "")).startswith("pytorch-")]
    indexes = [index_entry, *indexes]
    text, _ = apply_edit(text, path, SetToolTable("uv.index", indexes))
    sources = dict(meta.uv.get("sources", {})) if meta is not None else {}
    sources.update(routing["sources"])
    text, _ = apply_edit(text, path, SetToolTable("uv.sources", sources))
    return choice, text
