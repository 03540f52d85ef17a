"""Connects PEP 517 builds (``engine.build``) to resolution and installs.

``BuildSupport`` is what the install and resolve operations hand around when a package has
only a source distribution, or the user names a source tree: it fetches sdists into the cache
(``builds-v1/sdists/``, by the index's sha256 when known), asks ``engine.build`` for their
metadata or wheel, and fills isolated build environments with pyx's own resolver and
installer (build dependencies come from the same indexes and the same global cache). Nested
builds (a build dependency that itself has only an sdist) are allowed a few levels deep.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pyx_server.engine.cache import Bucket, Cache, digest
from pyx_server.engine.config import IndexSettings, redact_url
from pyx_server.engine.errors import BuildError
from pyx_server.engine.progress import Reporter

if TYPE_CHECKING:
    from packaging.metadata import Metadata  # the email parser behind it is slow to import

MAX_DEPTH = 3

#: ``operations.install``'s signature: fills an environment with requirements
Installer = Callable[..., Awaitable[object]]


class BuildSupport:
    """Builds for one operation: sdist metadata for the resolver, wheels for the installer."""

    def __init__(
        self, index: IndexSettings, cache: Cache, interpreter, reporter: Reporter | None = None, depth: int = 0,
        *, installer: Installer,
    ) -> None:
        self.index = index
        self.cache = cache
        self.interpreter = interpreter
        self.reporter = reporter or Reporter()
        self.depth = depth
        #: what fills build environments: ``operations.install``, passed in by the install
        #: operation (``operations.build_support``), so this module needs no import of it
        self.installer = installer

    async def install_build_requirements(self, env, requirements: Sequence[str]) -> None:
        """The ``BuildEnvInstaller``: resolve and install ``requirements`` into a build env."""
        from pyx_server.engine.install.results import InstallOptions
        from pyx_server.engine.requirements import parse_requirement

        install = self.installer
        if self.depth >= MAX_DEPTH:
            raise BuildError(
                f"build dependencies nest more than {MAX_DEPTH} levels deep: `{', '.join(requirements)}`",
                hints=["a build dependency that only has a source distribution needs another build; "
                       "install wheels of the build tools first"],
            )
        specs = [parse_requirement(r, source="build requirements") for r in requirements]
        nested = BuildSupport(self.index, self.cache, env.interpreter, self.reporter, self.depth + 1, installer=install)
        await install(
            specs,
            env,
            index=self.index,
            cache=self.cache,
            options=InstallOptions(resolve=True, break_system_packages=True),
            build=nested,
        )

    async def local_source(self, file, client=None) -> Path:
        """A path for ``file`` (an sdist listed by an index or named by URL): downloaded once."""
        if file.url.startswith("file:"):
            from urllib.parse import unquote, urlsplit

            return Path(unquote(urlsplit(file.url).path))
        key = file.hashes.get("sha256") or digest(redact_url(file.url))
        target = self.cache.bucket(Bucket.BUILDS) / "sdists" / key / file.filename
        if target.is_file():
            return target
        from pyx_server.engine import locks

        async with locks.hold(f"{target}.lock", what=f"the download of `{file.filename}`", reporter=self.reporter):
            if not target.is_file():
                part = target.with_name(f".{target.name}.{os.getpid()}.part")
                if client is None:
                    from pyx_server.engine.index.client import IndexClient

                    async with IndexClient(self.index, self.cache, self.reporter) as own:
                        await own.download(file, part)
                else:
                    await client.download(file, part)
                os.replace(part, target)
        return target

    async def metadata(self, source, client=None) -> Metadata:
        """Core metadata of an sdist (``DistFile``) or a source tree (``Path``)."""
        from pyx_server.engine.build import sdist_metadata

        path = source if isinstance(source, Path) else await self.local_source(source, client)
        return await sdist_metadata(
            path,
            interpreter=self.interpreter,
            cache=self.cache,
            installer=self.install_build_requirements,
            reporter=self.reporter,
        )

    async def wheel(self, source, client=None, *, editable: bool = False) -> Path:
        """A wheel built from an sdist (``DistFile``) or a source tree (``Path``), cached."""
        from pyx_server.engine.build import build_wheel

        path = source if isinstance(source, Path) else await self.local_source(source, client)
        built = await build_wheel(
            path,
            interpreter=self.interpreter,
            cache=self.cache,
            installer=self.install_build_requirements,
            reporter=self.reporter,
            editable=editable,
        )
        return built.path
