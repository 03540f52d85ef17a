"""Creating virtual environments directly, without running ``venv`` or ensurepip.

A virtual environment is a handful of files: ``pyvenv.cfg`` (which the interpreter reads at
start-up to set ``sys.prefix``), ``bin/python*`` symlinks to the base interpreter, an empty
``lib/pythonX.Y/site-packages`` (plus CPython's ``lib64 -> lib`` on 64-bit Linux), the
activation scripts, and uv's ``.gitignore`` containing ``*``. Writing them takes a few
milliseconds; running ``python -m venv`` takes a process start and, with pip, seconds.

A venv is always made from a real base interpreter: asked to make one from a venv's python,
pyx links to that venv's base instead, so environments never chain. The facts about the new
environment's python are derived from the base's (same binary, same tags and markers; only
the prefix and scheme differ) and, given a cache, recorded there, so the first install into
the new venv does not have to run it. Seeding pip (``--seed``) needs the index and lives
elsewhere.

With ``relocatable=True`` (uv's ``--relocatable``) ``pyvenv.cfg`` says ``relocatable = true``
and the bash/zsh and fish activation scripts find the environment from their own location
(the csh script, which cannot, keeps the absolute path).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from pyx_server import __version__
from pyx_server.engine.cache import Cache
from pyx_server.engine.envs.environment import PythonEnvironment
from pyx_server.engine.errors import VenvError
from pyx_server.engine.envs.interpreter import Interpreter, seed_interpreter_cache

_IMPLEMENTATION_NAMES = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalPy"}


def create_venv(
    path: Path,
    interpreter: Interpreter,
    *,
    prompt: str | None = None,
    system_site_packages: bool = False,
    allow_existing: bool = False,
    relocatable: bool = False,
    cache: Cache | None = None,
) -> PythonEnvironment:
    """Make a virtual environment at ``path`` for ``interpreter`` (or its base, for a venv).

    An existing virtual environment there is cleared first (as uv does); a non-empty
    directory that is not one is refused unless ``allow_existing``, which writes over
    whatever is there without clearing it. ``prompt`` defaults to the directory name
    (``"."`` means the current directory's name, as for ``python -m venv``). ``cache``, when
    given, receives the new python's facts so no later command has to run it to learn them.
    """
    root = Path(os.path.abspath(os.path.expanduser(str(path))))
    base = _base_executable(interpreter)
    _prepare_directory(root, allow_existing)
    if prompt == ".":
        prompt = Path.cwd().name
    shown_prompt = prompt if prompt else root.name

    version = ".".join(map(str, interpreter.version))
    layout = interpreter.venv_layout
    try:
        # pyvenv.cfg first: a venv interrupted mid-way is still recognised (and cleared) later
        _write(root / "pyvenv.cfg", _pyvenv_cfg(root, base, interpreter, version, prompt, system_site_packages, relocatable))
        bin_dir = root / layout.scripts if str(layout.scripts) not in ("", ".") else root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        names = ["python", f"python{interpreter.version[0]}", f"python{interpreter.version_short}"]
        if interpreter.gil_disabled:
            names.append(f"python{interpreter.version_short}t")
        _symlink(base, bin_dir / "python")
        for name in names[1:]:
            _symlink(Path("python"), bin_dir / name)
        lib64 = root / "lib64"
        if interpreter.pointer_bits == 64 and interpreter.platform.startswith("linux"):
            # as CPython's venv: lib64 -> lib, so a platlibdir of lib64 lands in the same place
            (root / "lib").mkdir(exist_ok=True)
            if not os.path.lexists(lib64):
                os.symlink("lib", lib64)
        for site in {layout.purelib, layout.platlib}:
            (root / site).mkdir(parents=True, exist_ok=True)
        bin_rel = os.path.relpath(bin_dir, root)
        _write(bin_dir / "activate", _activate_sh(root, bin_rel, shown_prompt, relocatable))
        _write(bin_dir / "activate.fish", _activate_fish(root, bin_rel, shown_prompt, relocatable))
        _write(bin_dir / "activate.csh", _activate_csh(root, bin_rel, shown_prompt))
        _write(root / ".gitignore", "*\n")
    except OSError as exc:
        raise VenvError(
            f"Could not create the virtual environment at `{root}`: {exc.strerror or exc}",
            context={"path": root, "file": exc.filename or ""},
        ) from exc

    venv_python = bin_dir / "python"
    facts = interpreter.for_venv(root, venv_python)
    if cache is not None:
        # only bin/python, the path environments use: every cache entry costs a few syscalls
        seed_interpreter_cache(facts, cache)
    return PythonEnvironment(
        root,
        venv_python,
        cache=cache,
        interpreter=facts,
        site_packages=(root / layout.purelib, root / layout.platlib),
    )


def _base_executable(interpreter: Interpreter) -> Path:
    """The real interpreter a new venv links to: never another venv's python."""
    if interpreter.is_venv:
        base = interpreter.base_executable
        if base is None or not base.exists():
            raise VenvError(
                f"Cannot find the base interpreter of the virtual environment `{interpreter.sys_prefix}`",
                context={"python": interpreter.executable},
                hints=["Pass `--python` with the path of a Python that is not in a virtual environment."],
            )
        return base
    return Path(interpreter.sys_executable)


def _prepare_directory(root: Path, allow_existing: bool) -> None:
    if not os.path.lexists(root):
        try:
            root.mkdir(parents=True)
        except OSError as exc:
            raise VenvError(
                f"Could not create the directory `{root}`: {exc.strerror or exc}", context={"path": root}
            ) from exc
        return
    if not root.is_dir():
        raise VenvError(
            f"`{root}` exists and is not a directory",
            context={"path": root},
            hints=["Choose another path for the virtual environment."],
        )
    if allow_existing:
        return
    if (root / "pyvenv.cfg").is_file():
        _clear(root)
        return
    if any(os.scandir(root)):
        raise VenvError(
            f"The directory `{root}` exists, is not empty and is not a virtual environment",
            context={"path": root},
            hints=["Choose an empty or new directory, or pass `--allow-existing` to write into it anyway."],
        )


def _clear(root: Path) -> None:
    """Empty an existing venv but keep its directory (a shell may be sitting in it)."""
    try:
        for entry in os.scandir(root):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    except OSError as exc:
        raise VenvError(
            f"Could not clear the existing virtual environment `{root}`: {exc.strerror or exc}",
            context={"path": root, "file": exc.filename or ""},
        ) from exc


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _symlink(target: Path, link: Path) -> None:
    if os.path.lexists(link):
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    os.symlink(target, link)


def _pyvenv_cfg(
    root: Path,
    base: Path,
    interpreter: Interpreter,
    version: str,
    prompt: str | None,
    system_site_packages: bool,
    relocatable: bool,
) -> str:
    lines = [
        f"home = {base.parent}",
        f"implementation = {_IMPLEMENTATION_NAMES.get(interpreter.implementation, interpreter.implementation)}",
        f"version_info = {version}",
        f"include-system-site-packages = {'true' if system_site_packages else 'false'}",
        f"version = {version}",
        f"executable = {os.path.realpath(base)}",
        f"command = pyx venv --python {shlex.quote(str(base))} {shlex.quote(str(root))}",
        f"pyx = {__version__}",
    ]
    if relocatable:
        lines.append("relocatable = true")
    if prompt:
        lines.append(f"prompt = {prompt}")
    return "\n".join(lines) + "\n"


# -- activation scripts ----------------------------------------------------------------------


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _activate_sh(root: Path, bin_rel: str, prompt: str, relocatable: bool) -> str:
    if relocatable:
        # bash sets BASH_SOURCE; zsh sets $0 to the sourced file
        locate = (
            'if [ -n "${BASH_SOURCE:-}" ] ; then _pyx_activate="${BASH_SOURCE}" ; else _pyx_activate="$0" ; fi\n'
            f'VIRTUAL_ENV="$(cd "$(dirname "$_pyx_activate")/{_sh_up(bin_rel)}" > /dev/null && pwd)"\n'
            "unset _pyx_activate\n"
        )
    else:
        locate = f"VIRTUAL_ENV={_sh_quote(str(root))}\n"
    return f"""\
# Written by pyx. Use it with `source {bin_rel}/activate` from bash or zsh; it cannot be run directly.

deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH:-}}" ] ; then
        PATH="${{_OLD_VIRTUAL_PATH}}"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME:-}}" ] ; then
        PYTHONHOME="${{_OLD_VIRTUAL_PYTHONHOME}}"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    if [ -n "${{_OLD_VIRTUAL_PS1+set}}" ] ; then
        PS1="${{_OLD_VIRTUAL_PS1}}"
        export PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV
    unset VIRTUAL_ENV_PROMPT
    # forget remembered command locations so PATH takes effect
    hash -r 2> /dev/null
    if [ ! "${{1:-}}" = "nondestructive" ] ; then
        unset -f deactivate
    fi
}}

# undo a previous activation, keeping this function
deactivate nondestructive

{locate}export VIRTUAL_ENV

_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/{bin_rel}:$PATH"
export PATH

VIRTUAL_ENV_PROMPT={_sh_quote(prompt)}
export VIRTUAL_ENV_PROMPT

if [ -n "${{PYTHONHOME:-}}" ] ; then
    _OLD_VIRTUAL_PYTHONHOME="${{PYTHONHOME}}"
    unset PYTHONHOME
fi

if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT:-}}" ] ; then
    _OLD_VIRTUAL_PS1="${{PS1:-}}"
    PS1="(${{VIRTUAL_ENV_PROMPT}}) ${{PS1:-}}"
    export PS1
fi

hash -r 2> /dev/null
"""


def _sh_up(bin_rel: str) -> str:
    return "/".join([".."] * len(Path(bin_rel).parts))


def _activate_fish(root: Path, bin_rel: str, prompt: str, relocatable: bool) -> str:
    if relocatable:
        locate = f"set -gx VIRTUAL_ENV (builtin realpath (status dirname)/{_sh_up(bin_rel)})\n"
    else:
        locate = f"set -gx VIRTUAL_ENV {_fish_quote(str(root))}\n"
    return f"""\
# Written by pyx. Use it with `source {bin_rel}/activate.fish` from fish; it cannot be run directly.

function deactivate -d "Leave the virtual environment"
    if set -q _OLD_VIRTUAL_PATH
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if set -q _OLD_VIRTUAL_PYTHONHOME
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
    if set -q _OLD_FISH_PROMPT_OVERRIDE
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != "nondestructive"
        functions -e deactivate
    end
end

deactivate nondestructive

{locate}set -gx _OLD_VIRTUAL_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/{bin_rel}" $PATH
set -gx VIRTUAL_ENV_PROMPT {_fish_quote(prompt)}

if set -q PYTHONHOME
    set -gx _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    functions -c fish_prompt _old_fish_prompt
    function fish_prompt
        set -l old_status $status
        printf "(%s) " $VIRTUAL_ENV_PROMPT
        echo "exit $old_status" | .
        _old_fish_prompt
    end
    set -gx _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
"""


def _activate_csh(root: Path, bin_rel: str, prompt: str) -> str:
    csh_prompt = prompt.replace("'", "")
    csh_root = str(root).replace("'", "")
    return f"""\
# Written by pyx. Use it with `source {bin_rel}/activate.csh` from csh or tcsh; it cannot be run directly.

alias deactivate 'test $?_OLD_VIRTUAL_PATH != 0 && setenv PATH "$_OLD_VIRTUAL_PATH" && unset _OLD_VIRTUAL_PATH; rehash; test $?_OLD_VIRTUAL_PROMPT != 0 && set prompt="$_OLD_VIRTUAL_PROMPT" && unset _OLD_VIRTUAL_PROMPT; unsetenv VIRTUAL_ENV; unsetenv VIRTUAL_ENV_PROMPT; test "\\!:*" != "nondestructive" && unalias deactivate'

deactivate nondestructive

setenv VIRTUAL_ENV '{csh_root}'

set _OLD_VIRTUAL_PATH="$PATH"
setenv PATH "$VIRTUAL_ENV/{bin_rel}:$PATH"
setenv VIRTUAL_ENV_PROMPT '{csh_prompt}'

set _OLD_VIRTUAL_PROMPT="$prompt"
if (! "$?VIRTUAL_ENV_DISABLE_PROMPT") then
    set prompt = "($VIRTUAL_ENV_PROMPT) $prompt"
endif

rehash
"""
