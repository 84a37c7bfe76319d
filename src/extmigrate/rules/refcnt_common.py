"""Shared helpers of the reference-count rules (FT501, FT502); defines no rule.

A reference count is read as `Py_REFCNT(o)` (a call, or a macro over one, depending on the headers)
or as `o->ob_refcnt`.  With free-threaded headers (-DPy_GIL_DISABLED=1, CPython >= 3.13) the field does
not exist: clang keeps the expression as an error-recovery node whose text still says `o->ob_refcnt`,
so both forms are recognised from the node's kind or, failing that, its text.
"""

from __future__ import annotations

import re
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.tree import K, Node, TUView, split_args

DATA = tomllib.loads(resources.files("extmigrate").joinpath("data/refcnt.toml").read_text("utf-8"))
READERS = set(DATA["uniqueness"]["readers"])
FIELD = re.compile(r"^(?P<obj>.*?)\s*(?:->|\.)\s*ob_refcnt\s*$", re.S)
_DESCEND = {K.UNEXPOSED_EXPR, K.PAREN_EXPR, K.CSTYLE_CAST_EXPR}


def refcount_read(tu: TUView, node: Node) -> tuple[Node, str, str] | None:
    """(the reading node, the object's text, "call" | "field") when `node` reads a refcount."""
    while True:
        text = tu.node_text(node)
        if node.kind == K.CALL_EXPR and node.spelling in READERS:
            args = split_args(text)
            return (node, args[0], "call") if args else None
        kids = [k for k in tu.children_of(node) if k.kind != K.TYPE_REF]
        m = FIELD.match(text)
        if node.kind == K.MEMBER_REF_EXPR:
            if node.spelling != "ob_refcnt":
                return None
            return node, (m.group("obj") if m else tu.node_text(kids[0]) if kids else ""), "field"
        if node.kind == K.UNEXPOSED_EXPR and m and not (len(kids) == 1 and tu.node_text(kids[0]) == text):
            return node, m.group("obj"), "field"  # error recovery: no ob_refcnt in these headers
        if node.kind not in _DESCEND or len(kids) != 1:
            return None
        node = kids[0]


def inside_macro(tu: TUView, names, path: str, offset: int) -> str | None:
    """The name of a macro among `names` whose use covers `offset`."""
    for u in tu.uses_of(*names):
        if u.path == path and u.start <= offset < u.end:
            return u.name
    return None


_CAST_TO_PYOBJECT = re.compile(r"^\(*\s*(?:\(\s*PyObject\s*\*\s*\)|_PyObject_CAST\s*\()")
_ANY_CAST = re.compile(r"\(\s*(?:const\s+|struct\s+)*[A-Za-z_]\w*\s*\*\s*\)")
_SIMPLE = re.compile(r"[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)*")


def _object_expr(tu: TUView, read: Node, form: str) -> Node | None:
    """The object expression under a refcount read, below every cast and parenthesis."""
    kids = [k for k in tu.children_of(read) if k.kind != K.TYPE_REF]
    expr = kids[1] if form == "call" and len(kids) > 1 else (kids[0] if kids else None)
    while expr is not None and expr.kind in _DESCEND:
        inner = [k for k in tu.children_of(expr) if k.kind != K.TYPE_REF]
        if len(inner) != 1:
            break
        expr = inner[0]
    return expr


def as_pyobject(tu: TUView, read: Node, form: str, obj: str) -> str:
    """The object expression as a PyObject *: cast, or address taken for an embedded PyObject."""
    if _CAST_TO_PYOBJECT.match(obj):
        return obj
    expr = _object_expr(tu, read, form)
    wrapped = obj if _SIMPLE.fullmatch(obj.strip()) else f"({obj})"
    t = expr.cursor.type.get_canonical() if expr is not None else None
    if t is not None and t.spelling == "struct _object":
        return f"&{wrapped}"
    if t is not None and t.get_pointee().get_canonical().spelling == "struct _object":
        return obj
    return f"(PyObject *){wrapped}"


def symbol(obj: str) -> str:
    """'((PyObject *)self)' -> 'self': the object as a name for reports and baselines."""
    s = _ANY_CAST.sub("", obj).strip()
    while s.startswith("(") and s.endswith(")"):
        s = s[1:-1].strip()
    return re.sub(r"\s+", "", s)


def mentions(tu: TUView, *words: bytes) -> bool:
    """Whether any project file of the TU contains one of the words (a cheap gate before the AST)."""
    return any(w in tu.source(p) for p in tu.files for w in words)


def field_errors(tu: TUView) -> list:
    """clang's 'no member named ob_refcnt' errors in project files (free-threaded headers)."""
    cache = tu.__dict__.get("_ob_refcnt_errors")
    if cache is None:
        cache = [d for d in tu.tu.diagnostics if "no member named 'ob_refcnt'" in d.spelling
                 and d.location.file is not None and tu.is_project_file(d.location.file.name)]
        tu.__dict__["_ob_refcnt_errors"] = cache
    return cache


def reads(tu: TUView) -> list[tuple[Node, str, str]]:
    """Every refcount read of the TU's project code: (node, object text, "call" | "field")."""
    cache = tu.__dict__.get("_refcnt_reads")
    if cache is not None:
        return cache
    out = []
    if mentions(tu, b"REFCNT", b"ob_refcnt"):
        for u in (u for name in READERS for u in tu.uses.get(name, ())):
            if u.node is not None:
                args = split_args(tu.node_text(u.node))
                if args:
                    out.append((u.node, args[0], "call"))
        for node in tu.of_kind(K.MEMBER_REF_EXPR):
            if node.spelling == "ob_refcnt":
                hit = refcount_read(tu, node)
                if hit:
                    out.append(hit)
        if field_errors(tu):  # error-recovery nodes stand where the field was used
            for node in tu.of_kind(K.UNEXPOSED_EXPR):
                if tu.node_text(node).endswith("ob_refcnt"):
                    hit = refcount_read(tu, node)
                    if hit and hit[0] is node:
                        out.append(hit)
    tu.__dict__["_refcnt_reads"] = out
    return out
