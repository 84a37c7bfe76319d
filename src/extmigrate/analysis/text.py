"""Text-level helpers every analysis shares: a file's text with comments and literals blanked, the
index of its `name(` calls, its #define bodies, argument lists and block nesting, all cached on the TU
view (and across a worker's TUs by file content: `by_content`).  Text is decoded as latin-1 so that
character offsets are byte offsets."""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from typing import Any, Callable

from extmigrate.tree import TUView

CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)

_NOT_NEWLINE = re.compile(r"[^\n]")


def _spaces(m: re.Match) -> str:
    s = m.group(0)
    return _NOT_NEWLINE.sub(" ", s) if "\n" in s else " " * len(s)


def blank_comments(text: str) -> str:
    """Replace comments and literals by spaces (offsets stay the same)."""
    return _COMMENT_OR_STRING.sub(_spaces, text)


_BY_CONTENT: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
_BY_CONTENT_BYTES = [0]
_BY_CONTENT_LIMIT = 8 << 20  # bytes of source kept as keys (a call index takes a few times that)


def by_content(what: str, data: bytes, make: Callable[[], Any]) -> Any:
    """make(), remembered across the TUs a worker analyses for a file of the same content: headers
    (Imaging.h, pythoncapi_compat.h) are read by most TUs of a project.  Results must not be changed."""
    key = (what, data)
    hit = _BY_CONTENT.get(key)
    if hit is not None:
        _BY_CONTENT.move_to_end(key)
        return hit
    hit = _BY_CONTENT[key] = make()
    _BY_CONTENT_BYTES[0] += len(data)
    while _BY_CONTENT_BYTES[0] > _BY_CONTENT_LIMIT and len(_BY_CONTENT) > 1:
        (_, old), _ = _BY_CONTENT.popitem(last=False)
        _BY_CONTENT_BYTES[0] -= len(old)
    return hit


def blanked(tu: TUView, path: str) -> str:
    """A file's text, comments and literals blanked, decoded as latin-1 so that character offsets
    are byte offsets (cached on the view: every rule that reads text shares it)."""
    cache = tu.__dict__.setdefault("_blanked", {})
    text = cache.get(path)
    if text is None:
        data = tu.source(path)
        text = cache[path] = by_content("blanked", data, lambda: blank_comments(data.decode("latin-1")))
    return text


def arg_list(text: str, open_paren: int) -> tuple[list[str], int]:
    depth, i, cur, out = 0, open_paren, [], []
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                out.append("".join(cur).strip())
                return [a for a in out if a], i + 1
        if ch == "," and depth == 1:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    return out, len(text)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `text`."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def extent(path: str, text: str, start: int, end: int) -> tuple:
    """An extent tuple for Rule.finding from text offsets."""
    return (path, start, end, *line_col(text, start), *line_col(text, end))


def norm(expr: str) -> str:
    """'&self->mutex' and '( self -> mutex )' compare equal; casts are dropped."""
    e = re.sub(r"\s+", "", expr)
    e = re.sub(r"^\((?:PyObject|[A-Za-z_]\w*)\*\)", "", e)
    e = re.sub(r"^_PyObject_CAST\((.*)\)$", r"\1", e)
    while e.startswith("(") and e.endswith(")"):
        e = e[1:-1]
    return e.lstrip("&")


def brace_depth(text: str, pos: int) -> int:
    """How many blocks are open at pos."""
    return text.count("{", 0, pos) - text.count("}", 0, pos)


def unclosed(text: str, pos: int, opener: str, closer: str, stop: str = "") -> int | None:
    """Offset of the innermost `opener` left open before pos (None past a `stop` char at depth 0)."""
    if not stop:  # jump from bracket to bracket (str.rfind) instead of stepping over every character
        depth, o, c = 0, text.rfind(opener, 0, pos), text.rfind(closer, 0, pos)
        while o >= 0:
            if c > o:
                depth += 1
                c = text.rfind(closer, 0, c)
            elif depth == 0:
                return o
            else:
                depth -= 1
                o = text.rfind(opener, 0, o)
        return None
    depth = 0
    for i in range(pos - 1, -1, -1):
        ch = text[i]
        if ch == closer:
            depth += 1
        elif ch == opener:
            if depth == 0:
                return i
            depth -= 1
        elif depth == 0 and ch in stop:
            return None
    return None


def block_end(text: str, pos: int) -> int:
    """Offset of the '}' closing the block that contains pos (len(text) if none)."""
    depth = 0
    for i in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth < 0:
            return i
    return len(text)


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?:\([^)]*\))?((?:[^\n\\]|\\.)*)", re.M | re.S)


def macro_definitions(tu: TUView) -> list[tuple[str, str]]:
    """(name, body) of every #define in the TU's project files, comments blanked (cached per TU)."""
    cached = tu.__dict__.get("_macro_definitions")
    if cached is None:
        cached = []
        for path in sorted(tu.files):
            data = tu.source(path)
            if b"define" in data:
                cached += by_content("defines", data,
                                     lambda: [m.groups() for m in _DEFINE.finditer(blanked(tu, path))])
        tu.__dict__["_macro_definitions"] = cached
    return cached


def calls_in(tu: TUView, path: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(name offset, '(' offset, name) of every `name(` in a stretch of a file, comments blanked
    (one regex pass per file, cached: regions and lock wrappers of every function share it)."""
    cache = tu.__dict__.setdefault("_calls_in", {})
    found = cache.get(path)
    if found is None:
        found = cache[path] = by_content("calls", tu.source(path), lambda: _call_index(blanked(tu, path)))
    starts, calls = found
    return calls[bisect.bisect_left(starts, start):bisect.bisect_left(starts, end)]


def _call_index(text: str) -> tuple[list[int], list[tuple[int, int, str]]]:
    starts: list[int] = []
    calls: list[tuple[int, int, str]] = []
    for m in CALL.finditer(text):
        starts.append(m.start())
        calls.append((m.start(), m.end() - 1, m.group(1)))
    return starts, calls

