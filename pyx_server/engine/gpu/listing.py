"""The variants a PyTorch-style index offers for one package version, with a verdict for this machine.

A variant index is a base URL whose sub-paths are simple indexes, one per variant
(``<base>/cpu/``, ``<base>/cu128/``, ``<base>/rocm6.3/`` …). Which variants exist is read from
the base's own page when it lists them (links named like variants), else a built-in list is
probed. Each variant index is asked through ``IndexClient`` (so the HTTP cache, retries,
credentials and ``--offline`` behave as everywhere else), concurrently.

For the picker (the JupyterLab GPU card, ``pyx gpu variants``) each variant that offers the
version gets: the wheel for this interpreter's tags and its size, whether this machine can run
it and why not, and whether it is the one ``choose_variant`` picks. A variant index that
cannot be reached is left out and reported as a warning ``Notice``; when none can be reached
the first error is raised.

Wheel variants (PEP 825): when a variant's page links a ``{name}-{version}-variants.json`` for
the version and one of its labels describes the variant (the same name, or properties that
read as it), the verdict comes from those declared properties (``wheel_variants.judge``: the
driver its CUDA needs, the GPU architectures it carries) instead of from the name, and the
choice follows (``choose_from_listing``). A variants.json that cannot be fetched or read is a
warning ``Notice``; the variant is then judged by its name. Variant-labelled wheels are shown
(``variant_filename``) but not installed: pyx's installer takes only the plain wheels.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from packaging.tags import Tag, parse_tag, sys_tags
from packaging.version import InvalidVersion, Version

from pyx_server.engine.cache import Bucket, Cache, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import IndexUnavailable, NoMatchingDistribution, OfflineCacheMiss, PackageNotFound
from pyx_server.engine.errors import PyxError
from pyx_server.engine.gpu.accelerator import Accelerator
from pyx_server.engine.gpu.tables import has_system_dependency, is_variant_name, variant_sort_key
from pyx_server.engine.gpu.variants import (
    DEFAULT_PROBE_VARIANTS,
    Choice,
    check_variant,
    choose_variant,
    variant_index_url,
)
from pyx_server.engine.index.http import HttpClient, file_url_to_path
from pyx_server.engine.index.client import IndexClient, ProjectNotFound
from pyx_server.engine.loop import running_loop
from pyx_server.engine.progress import Notice, Reporter
from pyx_server.engine.gpu.wheel_variants import VariantsJson, judge, parse_variants_json, property_strings
from pyx_server.engine.index.distfile import DistFile

#: ``VariantInfo.judged_by`` values
BY_METADATA, BY_TABLES = "variant metadata", "tables"


@dataclass(frozen=True)
class VariantInfo:
    """One variant that offers the package version, as the picker shows it."""

    variant: str
    #: the variant's simple index (redacted)
    index_url: str
    #: the exact version in that index, local label included (``2.7.1+cu128``)
    version: str
    #: the wheel for this interpreter; None when the variant has none for this platform
    filename: str | None
    url: str | None
    size: int | None
    compatible: bool
    #: why this machine cannot use it (None when ``compatible``)
    reason: str | None
    chosen: bool = False
    #: what decided ``compatible``: ``"variant metadata"`` (the page's PEP 825 variants.json) or ``"tables"``
    judged_by: str = BY_TABLES
    #: the PEP 825 label describing this build, and its properties (``nvidia :: sm_arch :: 80_real`` …)
    label: str | None = None
    properties: tuple[str, ...] = ()
    #: the CUDA architectures the build declares (``sm_80`` …); empty when it declares none
    architectures: tuple[str, ...] = ()
    #: declared properties pyx read but did not judge (``nvidia :: cuda_version_upper_bound :: 13``)
    unchecked: tuple[str, ...] = ()
    #: the PEP 825 variant wheel of this build for this interpreter, shown but not installed
    variant_filename: str | None = None

    def to_dict(self) -> dict:
        """JSON form for ``pyx gpu variants --format json`` and the REST API."""
        return asdict(self)


async def list_variants(
    package: str,
    version: str | None,
    accelerator: Accelerator,
    *,
    base_url: str,
    cache: Cache,
    tags: Sequence[Tag | str] | None = None,
    variants: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    retries: int | None = None,
) -> list[VariantInfo]:
    """Every variant offering ``package`` at ``version`` (newest when None), best first, with verdicts.

    ``tags`` are the target interpreter's supported tags, best first (default: this
    interpreter's); ``variants`` skips discovery and asks exactly those. Raises
    ``PackageNotFound`` when no variant has the package, ``NoMatchingDistribution`` when none
    has the version.
    """
    reporter = reporter or Reporter()
    priority = _tag_priority(tags)
    names = list(variants) if variants is not None else await discover_variants(
        base_url, cache, offline=offline, env=env, reporter=reporter, retries=retries
    )
    found = await _files_per_variant(package, names, base_url, cache, reporter, offline, env, retries)
    if not any(offer.files or offer.variant_wheels for offer in found.values()):
        raise PackageNotFound(
            f"no variant index under `{redact_url(base_url)}` offers `{package}`",
            context={"variants": ", ".join(names)},
            hints=["check the package name and `PYX_TORCH_INDEX_URL`"],
        )
    # the newest version pyx can install (plain wheels), else the newest any variant wheel has
    pool = {v: offer.files for v, offer in found.items()}
    if not any(pool.values()):
        pool = {v: offer.variant_wheels for v, offer in found.items()}
    target = _target_version(version, pool, priority)
    if target is None:
        raise NoMatchingDistribution(
            f"no variant index offers `{package}` version `{version}`",
            context={"variants": ", ".join(v for v, files in pool.items() if files)},
            hints=["leave out the version to list the newest one"],
        )
    metadata = await _variant_metadata(found, target, cache, reporter, offline, env, retries)
    depends_on_system = has_system_dependency(package)
    infos = [
        info
        for variant, offer in found.items()
        if (info := _variant_info(variant, offer, metadata.get(variant), target, priority, accelerator,
                                  depends_on_system, base_url)) is not None
    ]
    chosen = choose_from_listing(accelerator, infos).variant
    infos = [_mark(info, info.variant == chosen) for info in infos]
    return sorted(infos, key=lambda info: variant_sort_key(info.variant))


def _variant_info(
    variant: str,
    offer: _Offer,
    declared: VariantsJson | None,
    target: Version,
    priority: Mapping[Tag, int],
    accelerator: Accelerator,
    depends_on_system: bool,
    base_url: str,
) -> VariantInfo | None:
    """What the picker shows of one variant at ``target``; None when it does not offer that version.

    The verdict comes from the label of ``declared`` that describes this variant when there is
    one, else from the name (packages such as triton, whose builds need no CUDA, always run).
    """
    label = declared.label_for(variant) if declared is not None else None
    matching = [f for f in offer.files if _same_version(f.version, target)]
    labelled = [f for f in offer.variant_wheels
                if label is not None and f.variant_label == label and _same_version(f.version, target)]
    if not matching and not labelled:
        return None
    wheel = _best_wheel(matching, priority)
    variant_wheel = _best_wheel(labelled, priority)
    extra: dict = {}
    if declared is not None and label is not None:
        properties = declared.variants[label]
        judgement = judge(properties, accelerator)
        ok, why_not = judgement.compatible, judgement.reason
        extra = {"judged_by": BY_METADATA, "label": label, "properties": property_strings(properties),
                 "architectures": judgement.architectures, "unchecked": judgement.unchecked}
    else:
        ok, why_not = check_variant(accelerator, variant) if depends_on_system else (True, None)
    if wheel is None:
        no_wheel = ("only a PEP 825 variant wheel for this platform, which pyx does not install"
                    if variant_wheel else "no wheel for this platform (Python version, OS or architecture)")
        ok, why_not = False, f"{why_not}; {no_wheel}" if why_not else no_wheel
    shown = wheel or (matching or labelled)[0]
    return VariantInfo(
        variant=variant,
        index_url=redact_url(variant_index_url(base_url, variant)),
        version=str(shown.version),
        filename=wheel.filename if wheel else None,
        url=wheel.url if wheel else None,
        size=wheel.size if wheel else None,
        compatible=ok,
        reason=None if ok else why_not,
        variant_filename=variant_wheel.filename if variant_wheel else None,
        **extra,
    )


def choose_from_listing(accelerator: Accelerator, infos: Iterable[VariantInfo]) -> Choice:
    """``choose_variant`` over what a listing offers (variants with a wheel for this interpreter),
    with the verdicts that variant metadata gave taking the place of the name-based ones."""
    infos = list(infos)
    offered = [info.variant for info in infos if info.filename is not None]
    verdicts = {info.variant: (info.compatible, info.reason) for info in infos
                if info.judged_by == BY_METADATA and info.filename is not None}
    return choose_variant(accelerator, offered, verdicts=verdicts)


def _mark(info: VariantInfo, chosen: bool) -> VariantInfo:
    return replace(info, chosen=True) if chosen else info


# -- which variants exist -------------------------------------------------------------------------


async def discover_variants(
    base_url: str,
    cache: Cache,
    *,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    retries: int | None = None,
) -> list[str]:
    """The variants the base index lists on its own page, else the built-in probe list."""
    base = base_url.rstrip("/") + "/"
    names: list[str] = []
    if urlsplit(base).scheme == "file":
        try:
            names = [p.name for p in file_url_to_path(base).iterdir() if p.is_dir()]
        except OSError:
            names = []
    else:
        async with HttpClient(reporter=reporter, offline=offline, env=env, retries=retries) as http:
            entry = cache.bucket(Bucket.SIMPLE) / digest(redact_url(base)) / "_variants"
            try:
                response = await http.get(base, cache_entry=entry, accept="text/html, application/json;q=0.5",
                                          subject="the variant index's root page")
            except (IndexUnavailable, OfflineCacheMiss):
                response = None
            if response is not None and response.ok:
                names = parse_variant_root(response.content, response.content_type)
    variants = sorted({n for n in names if is_variant_name(n)}, key=variant_sort_key)
    return variants or list(DEFAULT_PROBE_VARIANTS)


def parse_variant_root(content: bytes, content_type: str | None) -> list[str]:
    """Names linked from a root page (HTML anchors or PEP 691 ``projects``) that read as variants."""
    text = content.decode("utf-8", errors="replace")
    candidates: list[str] = []
    if content_type and "json" in content_type:
        try:
            data = json.loads(text)
            candidates = [str(p.get("name", "")) for p in data.get("projects", []) if isinstance(p, dict)]
        except (ValueError, AttributeError):
            candidates = []
    else:
        parser = _Anchors()
        parser.feed(text)
        for href in parser.hrefs:
            path = unquote(urlsplit(href).path).rstrip("/")
            candidates.append(path.rsplit("/", 1)[-1])
    return [c for c in candidates if is_variant_name(c)]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


# -- asking each variant ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Offer:
    """What one variant index lists for the package: plain wheels, PEP 825 variant wheels and files."""

    files: tuple[DistFile, ...] = ()
    variant_wheels: tuple[DistFile, ...] = ()
    variants_json: tuple[DistFile, ...] = ()


async def _files_per_variant(
    package: str,
    names: Iterable[str],
    base_url: str,
    cache: Cache,
    reporter: Reporter,
    offline: bool,
    env: Mapping[str, str] | None,
    retries: int | None,
) -> dict[str, _Offer]:
    async def one(variant: str) -> _Offer:
        url = variant_index_url(base_url, variant) + "/"
        settings = IndexSettings(indexes=(url,), find_links=(), offline=offline)
        async with IndexClient(settings, cache, reporter, env=env, retries=retries) as client:
            result = await client.project(package)
        if isinstance(result, ProjectNotFound):
            return _Offer()
        return _Offer(
            files=tuple(f for f in result.files if f.is_wheel and not f.yanked),
            variant_wheels=tuple(f for f in result.variant_wheels if not f.yanked),
            variants_json=result.variants_json,
        )

    names = list(dict.fromkeys(names))
    await running_loop()
    results = await asyncio.gather(*(one(v) for v in names), return_exceptions=True)
    found: dict[str, _Offer] = {}
    errors: list[BaseException] = []
    for variant, result in zip(names, results):
        if isinstance(result, (IndexUnavailable, OfflineCacheMiss)):
            errors.append(result)
            reporter.report(Notice(f"variant index `{variant}` was skipped: {result.message}", level="warning",
                                   code="variant-index-skipped"))
            continue
        if isinstance(result, BaseException):
            raise result
        found[variant] = result
    if errors and not found:
        raise errors[0]
    return found


async def _variant_metadata(
    found: Mapping[str, _Offer],
    target: Version,
    cache: Cache,
    reporter: Reporter,
    offline: bool,
    env: Mapping[str, str] | None,
    retries: int | None,
) -> dict[str, VariantsJson]:
    """The ``variants.json`` each variant's page links for ``target``, read (through the HTTP cache,
    hash-checked); one that cannot be had is a warning ``Notice`` and that variant goes without."""
    links = {}
    for variant, offer in found.items():
        link = next((f for f in offer.variants_json if _same_version(f.version, target)), None)
        if link is not None:
            links[variant] = link
    if not links:
        return {}

    async def one(http: HttpClient, link: DistFile) -> VariantsJson:
        entry = cache.bucket(Bucket.SIMPLE) / digest(redact_url(link.url)) / "variants-json"
        response = await http.get(link.url, cache_entry=entry, accept="application/json", subject=f"`{link.filename}`")
        if not response.ok:
            raise IndexUnavailable(f"`{redact_url(link.url)}` answered {response.status}")
        expected = link.hashes.get("sha256")
        if expected and hashlib.sha256(response.content).hexdigest() != expected.lower():
            raise IndexUnavailable(f"`{link.filename}` does not match the sha256 its index lists")
        return parse_variants_json(response.content, link.filename)

    async with HttpClient(reporter=reporter, offline=offline, env=env, retries=retries) as http:
        results = await asyncio.gather(*(one(http, link) for link in links.values()), return_exceptions=True)
    metadata: dict[str, VariantsJson] = {}
    for variant, result in zip(links, results):
        if isinstance(result, PyxError):
            reporter.report(Notice(f"the variant metadata of `{variant}` was not used ({result.message}); "
                                   "its build is judged by its name", level="warning", code="variant-metadata-unused"))
        elif isinstance(result, BaseException):
            raise result
        else:
            metadata[variant] = result
    return metadata


# -- versions and wheels ------------------------------------------------------------------------------


def _tag_priority(tags: Sequence[Tag | str] | None) -> dict[Tag, int]:
    ordered: list[Tag] = []
    if tags is None:
        ordered = list(sys_tags())
    else:
        for item in tags:
            ordered.extend(parse_tag(item) if isinstance(item, str) else [item])
    priority: dict[Tag, int] = {}
    for rank, tag in enumerate(ordered):
        priority.setdefault(tag, rank)
    return priority


def _best_wheel(files: Iterable[DistFile], priority: Mapping[Tag, int]) -> DistFile | None:
    best: tuple[int, DistFile] | None = None
    for file in files:
        ranks = [priority[t] for t in file.tags if t in priority]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), file)
    return best[1] if best else None


def _same_version(version: Version, target: Version) -> bool:
    """``2.7.1+cu128`` matches ``2.7.1``; a target with a local label must match exactly."""
    if target.local is not None:
        return version == target
    return Version(version.public) == target


def _target_version(
    requested: str | None, found: Mapping[str, Sequence[DistFile]], priority: Mapping[Tag, int]
) -> Version | None:
    every = [f for files in found.values() for f in files]
    if requested is not None:
        try:
            target = Version(requested)
        except InvalidVersion:
            return None
        return target if any(_same_version(f.version, target) for f in every) else None
    installable = [f for f in every if _best_wheel([f], priority) is not None] or every
    publics = {Version(f.version.public) for f in installable}
    finals = [v for v in publics if not v.is_prerelease]
    return max(finals or publics) if publics else None

