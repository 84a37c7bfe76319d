"""FT503 static-object-header: a static PyObject (or PyObject_HEAD struct) initialised with the object
header of GIL builds written out by hand (`{ _PyObject_EXTRA_INIT 1, &T }`, `.ob_refcnt = 1`)."""

from __future__ import annotations

import re

from clang.cindex import StorageClass, TypeKind

from extmigrate.model import Finding
from extmigrate.analysis.text import blanked
from extmigrate.rules import register
from extmigrate.rules.alloc_common import ft_dead
from extmigrate.rules.base import Rule
from extmigrate.tree import K, Node, TUView

_EXTRA = re.compile(r"^\s*_PyObject_EXTRA_INIT\b")
_COUNT = re.compile(r"^\(?\s*(?:\(\s*Py_ssize_t\s*\)\s*)?(?:\d+[uUlL]*|_Py_\w*REFCNT\w*|\{\s*[\w() ]+\s*\})\s*\)?$")
_DESIGNATED = re.compile(r"^\s*\.\s*(\w+)\s*=\s*(.*)$", re.S)
_OBJECT = "struct _object"


def header_init(elements: list[str]) -> tuple[str, int] | None:
    """(type expression, elements used) when the list starts with a GIL build's object header written
    by hand: `[_PyObject_EXTRA_INIT] count, type` or `.ob_refcnt = count, .ob_type = type`."""
    els = list(elements)
    if els and _EXTRA.match(els[0]):
        els[0] = _EXTRA.sub("", els[0])
    if len(els) < 2:
        return None
    first, second = _DESIGNATED.match(els[0]), _DESIGNATED.match(els[1])
    if first and second and {first.group(1), second.group(1)} == {"ob_refcnt", "ob_type"}:
        return (first if first.group(1) == "ob_type" else second).group(2).strip(), 2
    if first or second or not _COUNT.match(els[0].strip()):
        return None
    return els[1].strip(), 2


def _braced(text: str, open_at: int) -> int:
    """Offset of the `}` closing the `{` at open_at (-1 when unbalanced)."""
    ends = elements(text, open_at, len(text), stop="}")
    return ends[-1][1] if ends and text[ends[-1][1]:ends[-1][1] + 1] == "}" else -1


def elements(text: str, open_at: int, close_at: int, stop: str = "") -> list[tuple[int, int]]:
    """(start, end) of each top-level element of the initialiser list text[open_at] .. text[close_at]
    (with `stop`, up to that closing bracket at depth 0 instead)."""
    out, depth, start = [], 0, open_at + 1
    for i in range(open_at + 1, close_at):
        ch = text[i]
        if depth == 0 and ch == stop:
            close_at = i
            break
        depth += {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append((start, i))
            start = i + 1
    else:
        if stop:
            return []
    if text[start:close_at].strip() or stop:
        out.append((start, close_at))
    return out


def _shape(tu: TUView, node: Node) -> str | None:
    """'object' for a PyObject, 'struct' for a struct whose first member is a PyObject."""
    t = node.cursor.type.get_canonical()
    if t.spelling == _OBJECT:
        return "object"
    fields = list(t.get_fields()) if t.kind == TypeKind.RECORD else []
    if fields and fields[0].type.get_canonical().spelling == _OBJECT:
        return "struct"
    return None


def analyse(text: str, open_at: int, close_at: int, shape: str) -> dict | None:
    """Where the hand-written header is and what replaces it, for the initialiser text[open_at..close_at]."""
    els = elements(text, open_at, close_at)
    if shape == "object":
        found = header_init([text[s:e] for s, e in els])
        if found is None or len(els) != found[1]:
            return None
        return {"form": "object", "type": found[0], "edit_start": open_at, "edit_end": close_at + 1}
    if not els:
        return None
    s, e = els[0]
    first = text[s:e]
    m = _DESIGNATED.match(first)
    inner = m.group(2).strip() if m and m.group(1) == "ob_base" else (None if m else first.strip())
    if inner is not None and inner.startswith("{"):  # { {1, &T}, ... } or { .ob_base = {...}, ... }
        o = text.index("{", s)
        c = _braced(text, o)
        found = header_init([text[a:b] for a, b in elements(text, o, c)]) if c > 0 else None
        if found is None or found[1] != len(elements(text, o, c)):
            return None
        used = 1
        head_start = o
    else:  # braces left out: { 1, &T, field, ... }
        found = header_init([text[a:b] for a, b in els])
        if found is None:
            return None
        used, head_start = found[1], els[0][0] + (len(first) - len(first.lstrip()))
    last = els[used - 1][1]
    # the comma after the header goes too (PyObject_HEAD_INIT has its own)
    end = last + 1 if last < close_at else len(text[:last].rstrip())
    return {"form": "struct", "type": found[0], "edit_start": head_start, "edit_end": end,
            "rest": used < len(els)}


@register
class StaticObjectHeader(Rule):
    code = "FT503"
    name = "static-object-header"
    category = "other"
    severity = "error"
    summary = "static PyObject initialised with the GIL build's object header written out by hand"
    explanation = (
        "A static PyObject (or a struct starting with PyObject_HEAD) initialised positionally as "
        "`{ 1, &Type }` (or with _PyObject_EXTRA_INIT, or `.ob_refcnt = 1`) spells out the object "
        "header of builds with the GIL. On free-threaded CPython the header has other fields (ob_tid, "
        "ob_flags, ob_mutex, ob_gc_bits, ob_ref_local, ob_ref_shared, ob_type) and no ob_refcnt: the "
        "type lands in ob_flags and the file does not compile (\"initializer element is not "
        "computable at load time\"). An optional extension then silently falls back to pure Python. "
        "Such a static object is shared by every thread and should also be immortal, which "
        "PyObject_HEAD_INIT makes it from 3.13 on (free-threaded builds included).")
    action = ("Initialise the header with PyObject_HEAD_INIT(&Type), which expands to the right layout "
              "on every CPython version; a bare PyObject (not a struct) takes the whole initialiser "
              "from the compat header's EXTMIGRATE_OBJECT_INIT(&Type).")
    doc = """
    Reports static and global variables of type PyObject, or of a struct whose first member is
    the PyObject header (`PyObject_HEAD`), whose braced initialiser starts with a reference count
    and a type written by hand: `{ 1, &T }`, `{ _PyObject_EXTRA_INIT 1, &T }`, `{ {1, &T}, ... }`,
    `{ .ob_refcnt = 1, .ob_type = &T }`. Initialisers using PyObject_HEAD_INIT and code in
    `#ifndef Py_GIL_DISABLED` / pre-3.13 branches are not reported.

    Before:

        static PyObject undefined_obj = { _PyObject_EXTRA_INIT 1, &UndefinedType };
        static Sentinel missing = { { 1, &SentinelType }, 0 };

    After:

        static PyObject undefined_obj = EXTMIGRATE_OBJECT_INIT(&UndefinedType);  /* compat header */
        static Sentinel missing = { PyObject_HEAD_INIT(&SentinelType) 0 };
    """

    def check(self, tu: TUView) -> list[Finding]:
        out: list[Finding] = []
        for node in tu.of_kind(K.VAR_DECL):
            if node.func is not None and node.cursor.storage_class != StorageClass.STATIC:
                continue  # a local: built at run time
            shape = _shape(tu, node)
            if shape is None or ft_dead(tu, node.path, node.start):
                continue
            text = blanked(tu, node.path)
            eq = re.compile(rf"\b{re.escape(node.spelling)}\s*=\s*\{{").search(text, node.start, node.end + 1)
            if eq is None:
                continue
            open_at = eq.end() - 1
            close_at = _braced(text, open_at)
            info = analyse(text, open_at, close_at, shape) if close_at > 0 else None
            if info is None:
                continue
            what = "PyObject" if shape == "object" else f"'{node.cursor.type.spelling}' object"
            out.append(self.finding(
                node, node.spelling,
                f"static {what} '{node.spelling}' spells out the object header of GIL builds "
                f"(count, type): free-threaded builds have another header and do not compile it; "
                f"use {'EXTMIGRATE_OBJECT_INIT' if shape == 'object' else 'PyObject_HEAD_INIT'}"
                f"({info['type']})",
                data=info))
        return out
