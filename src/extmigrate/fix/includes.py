"""Where the compat header's #include goes: at file scope, outside every conditional block, before
the first use in the TU's include order (a unity build's `#include "part.c"` of a patched file is a
use), after the Python.h include when the file has one there."""

from __future__ import annotations

import os
import re

from extmigrate.analysis.text import blank_comments

_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(\w+)([^\n]*)", re.M)
_OPENS = {"if", "ifdef", "ifndef"}
_PYTHON_H = re.compile(r'[<"]Python\.h[>"]')
_QUOTED = re.compile(r'"([^"]+)"')


class Directive:
    def __init__(self, m: re.Match, depth: int, braces: int, raw: str):
        self.name, self.start, self.end = m.group(1), m.start(), m.end()
        self.depth = depth  # #if nesting at the directive (an include guard does not count)
        self.braces = braces  # { } nesting: 0 at file scope
        self.arg = raw[m.start(2):m.end(2)].strip()

    @property
    def line_end(self) -> int:
        return self.end + 1


def directives(data: bytes) -> list[Directive]:
    """Every preprocessor directive with its #if depth and brace depth (byte offsets)."""
    raw = data.decode("latin-1")
    text = blank_comments(raw)
    found = list(_DIRECTIVE.finditer(text))
    out, depth, braces, pos = [], 0, 0, 0
    for m in found:
        chunk = text[pos:m.start()]
        braces += chunk.count("{") - chunk.count("}")
        pos = m.end()
        name = m.group(1)
        if name == "endif":
            depth -= 1  # the #endif sits at the level it returns to
        out.append(Directive(m, depth, braces, raw))
        if name in _OPENS:
            depth += 1
    return _without_guard(out)


def _without_guard(ds: list[Directive]) -> list[Directive]:
    """An include guard (#ifndef X / #define X ... #endif around the whole file) is file scope."""
    if len(ds) >= 3 and ds[0].name == "ifndef" and ds[1].name == "define" and \
            ds[1].arg.split()[:1] == ds[0].arg.split()[:1] and ds[-1].name == "endif" and \
            ds[-1].depth == 0 and all(d.depth >= 1 for d in ds[1:-1]):
        for d in ds[1:-1]:
            d.depth -= 1
        ds[0].depth = ds[-1].depth = -1  # the guard itself: never a place
    return ds


def first_use(path: str, data: bytes, uses: list[int], users: set[str]) -> int:
    """The earliest of `uses` (edit offsets) and the #include of another file that uses the APIs."""
    at = min(uses) if uses else len(data)
    folder = os.path.dirname(os.path.abspath(path))
    for d in directives(data):
        m = _QUOTED.match(d.arg) if d.name == "include" else None
        if m and os.path.abspath(os.path.join(folder, m.group(1))) in users:
            at = min(at, d.start)
    return at


def place(data: bytes, before: int) -> int | None:
    """The offset to insert the include at (a line start), or None when no place before `before`
    is at file scope outside conditionals."""
    ds = [d for d in directives(data) if d.start < before]
    top = [d for d in ds if d.depth == 0 and d.braces == 0]
    includes = [d for d in top if d.name == "include"]
    python = next((d for d in includes if _PYTHON_H.search(d.arg)), None)
    if python is not None:
        return _after(data, python)
    if any(d.name == "include" and _PYTHON_H.search(d.arg) for d in ds):
        return None  # Python.h only inside a conditional block: the compat header would force it
    if includes:  # the headers that bring Python.h in come first
        return _after(data, includes[-1])
    # No include before the first use (a unity build's part, a header): after the guard and the
    # leading #define / #pragma lines, or at the top.
    at = 0
    for d in ds:
        if d.depth == -1 and d.name == "ifndef":  # the include guard
            at = _after(data, d)
            continue
        if d.braces or (d.depth not in (0, -1)) or d.name not in ("define", "pragma", "undef"):
            break
        if data[at:d.start].strip() and not _only_comments(data[at:d.start]):
            break
        at = _after(data, d)
    if at == 0:
        at = _after_leading_comments(data)
    return at if at <= before else None


def _after(data: bytes, d: Directive) -> int:
    nl = data.find(b"\n", d.end)
    return len(data) if nl < 0 else nl + 1


def _only_comments(chunk: bytes) -> bool:
    return not blank_comments(chunk.decode("latin-1")).strip()


def _after_leading_comments(data: bytes) -> int:
    text = blank_comments(data.decode("latin-1"))
    m = re.match(r"\s*", text)
    return data.rfind(b"\n", 0, m.end()) + 1 if m else 0
