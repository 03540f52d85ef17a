"""GPU-aware PyTorch installs: detect the accelerator, choose the variant, list what an index offers.

* ``detect``    reads the machine into an ``Accelerator`` report (kind, driver, devices,
                every source consulted and its outcome), built of
  ``accelerator`` (the report's types, pure), ``readers`` (the injectable ``Readers``: the
                only I/O) and ``driverinfo`` (parsers of what drivers and tools print, pure).
* ``tables``    pure: variant names, the minimum-driver / gfx / compute-capability tables,
                the PyTorch family.
* ``variants``  pure: ``compatible_variants``, ``choose_variant`` (always with a reason; an
                explicit choice wins), the variant index URL and the ``[tool.uv]`` routing.
* ``wheel_variants``  pure: PEP 825 variant metadata (``variants.json``): what a build
                declares (CUDA driver, GPU architectures) and whether this machine runs it.
* ``listing``   async: the variants a PyTorch-style index offers for a package version,
                with size, compatibility verdict (from variant metadata when the index has
                it, else the tables) and the one pyx would pick.

Typical use (an install of ``torch``)::

    accelerator = detect()                       # blocking, bounded: run it in a thread
    choice = choose_variant(accelerator)         # offline: by the table alone
    infos = await list_variants("torch", None, accelerator, base_url=torch_index_base(), cache=cache)
    choice = choose_from_listing(accelerator, infos)   # .warnings: e.g. the GPU's architecture is missing
    routing = torch_routing(accelerator, choice, ["torch>=2.6", "numpy"])
"""

from pyx_server.engine.gpu.accelerator import Accelerator, GpuDevice, Probe
from pyx_server.engine.gpu.detect import detect
from pyx_server.engine.gpu.readers import NvmlReading, Readers, run_command
from pyx_server.engine.gpu.tables import (
    TORCH_FAMILY,
    has_system_dependency,
    is_torch_family,
    min_driver,
    parse_torch_backend,
    parse_variant,
)
from pyx_server.engine.gpu.variants import (
    DEFAULT,
    DEFAULT_PROBE_VARIANTS,
    Choice,
    check_variant,
    choose_variant,
    compatible_variants,
    recorded_torch_index_base,
    torch_index_base,
    torch_routing,
    variant_index_url,
)

_LISTING = ("VariantInfo", "choose_from_listing", "discover_variants", "list_variants")


def __getattr__(name: str):
    """The listing pulls in the index client (httpx): loaded on first use, so detection stays light."""
    if name in _LISTING:
        from pyx_server.engine.gpu import listing

        return getattr(listing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT",
    "DEFAULT_PROBE_VARIANTS",
    "TORCH_FAMILY",
    "Accelerator",
    "Choice",
    "GpuDevice",
    "NvmlReading",
    "Probe",
    "Readers",
    "VariantInfo",
    "check_variant",
    "choose_from_listing",
    "choose_variant",
    "compatible_variants",
    "detect",
    "discover_variants",
    "has_system_dependency",
    "is_torch_family",
    "list_variants",
    "min_driver",
    "parse_torch_backend",
    "parse_variant",
    "recorded_torch_index_base",
    "run_command",
    "torch_index_base",
    "torch_routing",
    "variant_index_url",
]
