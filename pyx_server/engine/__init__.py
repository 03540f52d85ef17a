"""The pyx engine: resolves, caches and installs packages. A library; it never prints.

Every front (the ``pyx`` CLI, the Jupyter extension, the language server) wraps this
package and nothing else. It imports no front (jupyter_server, tornado, IPython,
ipykernel, pygls, lsprotocol, rich): ``tests/test_layers.py`` enforces it.

Folders by stage (parse → find → resolve → plan → fetch/build → install), one job per module:

* ground floor: ``errors`` (codes, messages, hints), ``progress`` (typed events, the do-nothing
  ``Reporter``), ``loop`` (engine coroutines for synchronous callers), ``forked`` (jobs in forked
  copies of the process), ``cache`` (versioned buckets, atomic writes), ``config`` (which
  indexes), ``requirements`` (pip-style requirement files and specifiers), ``hashing`` (file
  digests).
* ``index/``     the HTTP client and its cache, name lookups, index pages (pure parsing), the index
  client, the resolver's metadata provider, and ``resolve`` (the resolver run against indexes).
* ``resolver/``  pure PubGrub over PEP 440 version sets, behind a ``MetadataProvider``.
* ``install/``   plan (pure), wheel choice (``choose``), downloads and unpacking (``fetch``), wheels
  and their members, linking, what an unpacked wheel holds, installing per the binary
  distribution format and uninstalling by RECORD, the all-or-nothing change of an environment
  (``transaction``, used by ``act``), ``pip check``, and ``operations`` (install, uninstall).
* ``envs/``      interpreters, environments, venvs, the environment store, run stamps.
* ``build/``     PEP 517 / 660 builds of sdists and source trees in isolated environments.
* ``inline/``    PEP 723 blocks in scripts and notebooks; ``project/`` ``pyproject.toml`` (the project
  model: reading, editing as text, uv's tables); ``uvindex`` uv's ``[[tool.uv.index]]`` entry for
  both; ``lock/`` PEP 751 locks; ``gpu/`` accelerators and PyTorch variants.
* ``declared/``  what a script, notebook or project declares: its lock, the pins it gives, its
  environment (the store's, or a project's ``.venv``).
* ``api/``       the use cases every front calls (add, remove, lock, sync, status, environment_for,
  pip_*, gpu_*).
* ``locks`` one lock for environments, declarations and cache entries; ``edits`` file edits as data;
  ``lazy`` package namespaces whose names load on first use.
"""
