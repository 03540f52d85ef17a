"""Script headers and console/gui launchers: what an install writes into ``bin``.

Launchers are POSIX shell-less Python scripts (distlib's template, as pip and uv write); no
Windows ``.exe`` launchers are produced.
"""

from __future__ import annotations

import os
import shlex

#: the longest ``#!`` line the kernel is trusted to honour (distlib / pip use the same limit)
MAX_SHEBANG = 127

# distlib's launcher (pip and uv write the same body)
_LAUNCHER = """\
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {import_name}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({func}())
"""


def script_shebang(python: str) -> bytes:
    """The ``#!`` header for scripts run by ``python``.

    A plain ``#!<python>`` line, unless the path is longer than the kernel honours or holds
    whitespace: then the ``/bin/sh`` trick pip and distlib use, a header that is valid shell
    (``exec`` the interpreter on this file) and a harmless string literal for Python.
    """
    exe = os.fsencode(python)
    if len(exe) + 2 <= MAX_SHEBANG and not any(c in exe for c in b" \t\n\r\f\v"):
        return b"#!" + exe + b"\n"
    quoted = os.fsencode(shlex.quote(python))
    return b"#!/bin/sh\n'''exec' " + quoted + b' "$0" "$@"\n' + b"' '''\n"


def launcher_script(python: str, module: str, attr: str) -> bytes:
    """A console/gui launcher: import ``module:attr`` (``attr`` may be dotted) and exit with it."""
    body = _LAUNCHER.format(module=module, import_name=attr.split(".")[0], func=attr)
    return script_shebang(python) + body.encode("utf-8")


__all__ = ["MAX_SHEBANG", "launcher_script", "script_shebang"]
