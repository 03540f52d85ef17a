"""The pyx engine: resolves, caches and installs packages. A library; it never prints.

Every front (the ``pyx`` CLI, the Jupyter extension, the language server) wraps this
package and nothing else. It imports no front (jupyter_server, tornado, IPython,
ipykernel, pygls, lsprotocol, rich): ``tests/test_layers.py`` enforces it.

One job per module, split by stage (parse → find → resolve → plan → fetch → install):

* ``errors``       the error hierarchy: stable ``code``, message, context, hints.
* ``progress``     typed progress events and the do-nothing ``Reporter`` fronts subclass.
* ``loop``         runs engine coroutines for synchronous fronts, on an event loop only once needed.
* ``forked``       jobs run by forked copies of the process (linking, unpacking) when it is alone.
* ``cache``        the global cache: versioned buckets, atomic writes, file locks.
* ``config``       which indexes to use: pyx's and pip's configuration, pip's default.
* ``http``         the HTTP client: caching (ETag / Cache-Control), retries, credentials.
* ``lookups``      one name lookup per host for all of an HTTP client's connections.
* ``simple``       pure parsing of PEP 691 JSON / PEP 503 HTML index pages.
* ``index``        the index client: project pages, metadata files, downloads.
* ``interpreter``  facts about a target interpreter (tags, markers, scheme), cached.
* ``environment``  finding the environment to act on; reading installed dist-infos.
* ``venv``         creating virtual environments without ensurepip.
* ``wheel``        wheel file names, member validation, unpacking.
* ``members``      a wheel's members read by position and inflated (ISA-L when installed).
* ``linker``       putting cached files into an environment: clone, hardlink, copy, symlink.
* ``contents``     what an unpacked wheel holds, scanned once and kept in the cache.
* ``installer``    installing an unpacked wheel per the binary distribution format; uninstall.
* ``scheme``       where an environment keeps each kind of installed file.
* ``requirements`` pip-style requirements files and requirement specifiers.
* ``selector``     pure: the one file to install for a pin (``--no-deps``, ``pip sync``).
* ``resolver/``    pure PubGrub over PEP 440 version sets, behind a ``MetadataProvider``.
* ``index_provider`` the resolver's provider backed by the index client, with prefetching.
* ``resolve``      runs the resolver against the configured indexes (and ``--python-version``).
* ``build/``       PEP 517 / 660 builds of sdists and source trees in isolated environments.
* ``building``     connects builds to resolution and installs (build envs filled by pyx).
* ``check``        pure: do installed distributions satisfy requirements (``pip check``).
* ``inline/``      PEP 723 ``# /// script`` blocks in scripts and notebooks: read and edit.
* ``project``      ``pyproject.toml``: discovery, dependencies and groups, edits with tomlkit.
* ``lock/``        PEP 751 lock files: model, read, write, naming, selection, staleness.
* ``envstore``     one environment per declaration under the data directory; collection.
* ``declared``     lock / sync / run for what a script, notebook or project declares.
* ``runstamp``     what lets ``pyx run`` start an unchanged script without loading pyx.
* ``zipranges``    pure: one member of a remote zip from byte ranges (wheel METADATA).
* ``gpu/``         accelerator detection, PyTorch variant choice and listing, uv routing.
* ``plan``         pure: what to fetch, link, replace and remove, before touching anything.
* ``operations``   the public async operations the fronts call (sync, install, uninstall…).
"""
