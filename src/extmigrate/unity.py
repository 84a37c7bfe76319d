"""Unity builds: source files that another source file #includes.

Such a file (`#include "part.c"`, `.cpp`, `.inc`) is a fragment of the including translation unit: it
uses the includer's headers, types and statics, so parsed alone it yields hundreds of errors and no
findings.  The scan analyses it inside the TU that includes it (the walk covers every project file a
TU reads) and parses it alone only when no TU covered it after all (an include in a dead branch).
"""

from __future__ import annotations

import os
import re

from extmigrate.discover import C_SOURCES, CXX_SOURCES
from extmigrate.flags import TUSpec, include_dirs

FRAGMENT_EXTS = C_SOURCES + CXX_SOURCES + (".inc",)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"\n]+)[>"]', re.M)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def included_sources(path: str, dirs: list[str]) -> list[str]:
    """The source files (by real path) that `path` includes, resolved as the compiler would."""
    try:
        with open(path, "rb") as f:
            text = _COMMENT.sub(" ", f.read().decode("utf-8", "replace"))
    except OSError:
        return []
    out = []
    for name in _INCLUDE.findall(text):
        if not name.lower().endswith(FRAGMENT_EXTS):
            continue
        for d in [os.path.dirname(path)] + dirs:
            cand = os.path.join(d, name)
            if os.path.isfile(cand):
                out.append(os.path.realpath(cand))
                break
    return out


def fragments(sources: list[str], specs: dict[str, TUSpec]) -> dict[str, str]:
    """Source files of the scan that another one includes: fragment path -> the includer's path."""
    real = {os.path.realpath(p): p for p in sources}
    out: dict[str, str] = {}
    for p in sources:
        spec = specs.get(p)
        for inc in included_sources(p, include_dirs(list(spec.args)) if spec else []):
            if inc in real and real[inc] != p:
                out.setdefault(real[inc], p)
    return out
