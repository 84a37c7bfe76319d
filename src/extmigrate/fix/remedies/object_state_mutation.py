"""FT510: the method runs inside a critical section on self (a wrapper around the original body);
failing that, a critical section around each statement that writes self's fields (never when the
method changes containers held in self's fields: those steps must stay together)."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.stmt import jumps_out, merge_adjacent, node_at, statement_of, wrap
from extmigrate.model import Finding
from extmigrate.tree import K, TUView

TEMPLATE = "object_state_mutation"


def whole_method(tu: TUView, f: Finding, ctx: FixContext, obj: str) -> FixProposal | NoFix:
    """`T name(params) {...}` -> `static T name_impl(params) {...}` plus a wrapper `T name(params)` that
    calls it inside a critical section on self: every read and write of self's state in the method
    (and in the helpers it calls) happens under one lock, and every return and goto stays inside."""
    fn = next((x for x in tu.functions if x.start == f.data.get("func_start") and x.path == f.path), None)
    if fn is None:
        return NoFix("the method was not found again: hold the critical section by hand")
    edits = wrap_function(tu, ctx, fn, obj)
    if isinstance(edits, NoFix):
        return edits
    return FixProposal("unsafe", f"run {fn.spelling}() inside a critical section on '{obj}' (the body "
                                 f"moves to {fn.spelling}_impl()); other functions touching the same "
                                 "state need it too", edits, apis=["Py_BEGIN_CRITICAL_SECTION"])


def wrap_function(tu: TUView, ctx: FixContext, fn, obj: str) -> list[Edit] | NoFix:
    """The edits moving fn's body to <name>_impl and adding a wrapper that runs it inside a critical
    section on `obj` (one of its parameters)."""
    kids = tu.children_of(fn)
    body = next((k for k in reversed(kids) if k.kind == K.COMPOUND_STMT), None)
    params = [k.spelling for k in kids if k.kind == K.PARM_DECL]
    name, at, path = fn.spelling, fn.cursor.location.offset, fn.path
    if body is None or not all(params) or fn.cursor.type.is_function_variadic() or \
            ctx.text(path, at, at + len(name)) != name:
        return NoFix(f"{name}()'s signature is unusual: hold the critical section by hand")
    text = ctx.source(path).decode("utf-8", "replace")
    impl = f"{name}_impl"
    while re.search(rf"\b{re.escape(impl)}\b", text):
        impl += "_"
    header = ctx.text(path, fn.start, body.start).rstrip()
    edits = [Edit(path, at + len(name), at + len(name), impl[len(name):])]
    if not re.search(r"\bstatic\b", header):
        edits.insert(0, Edit(path, fn.start, fn.start, "static "))
    wrapper = ctx.macro(TEMPLATE, "wrapper", header=header, impl=impl, obj=obj, args=params,
                        rtype=fn.cursor.result_type.spelling)
    edits.append(Edit(path, fn.end, fn.end, wrapper))
    return edits


def shared_helper(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | None:
    """Every write the finding names happens in one helper of this file, called with self (a
    lazy-fill `get_parsed(self)` that many methods call): lock the helper once, not each caller.
    Each caller's finding proposes the same edits, which merge into one."""
    helpers = f.data.get("helpers") or []
    if len(helpers) != 1 or not f.related or \
            not all(f"(in {helpers[0]}," in (s.note or "") and s.path == f.path for s in f.related):
        return None
    fn = next((x for x in tu.functions if x.spelling == helpers[0] and x.path == f.path), None)
    if fn is None:
        return None
    try:
        at = _offset(ctx, f.path, f.related[0].line, f.related[0].column)
    except ValueError:
        return None
    m = re.compile(rb"\(?\s*([A-Za-z_]\w*)\s*\)?\s*->").match(ctx.source(f.path), at)
    params = [k.spelling for k in tu.children_of(fn) if k.kind == K.PARM_DECL]
    if m is None or m.group(1).decode() not in params:
        return None
    obj = m.group(1).decode()
    edits = wrap_function(tu, ctx, fn, obj)
    if isinstance(edits, NoFix):
        return None
    return FixProposal("unsafe", f"lock {fn.spelling}(), the helper that writes '{obj}' for every "
                                 f"caller, once: its body runs inside a critical section on '{obj}' "
                                 f"(moved to {fn.spelling}_impl()); other writers of the same fields "
                                 "need it too, and a caller keeping a borrowed result while another "
                                 "thread replaces the field still races", edits,
                       apis=["Py_BEGIN_CRITICAL_SECTION"])


def _offset(ctx: FixContext, path: str, line: int, column: int) -> int:
    src = ctx.source(path)
    start = 0
    for _ in range(line - 1):
        start = src.index(b"\n", start) + 1
    return start + column - 1


@remedy("FT510")
def lock_self(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    """The whole method under one critical section on self; each write on its own only when the
    method cannot be wrapped."""
    obj = f.data.get("self")
    if not obj:
        return NoFix("the object the method writes is not known")
    whole = shared_helper(tu, f, ctx) or whole_method(tu, f, ctx, obj)
    return whole if isinstance(whole, FixProposal) else each_write(tu, f, ctx, obj, whole)


def each_write(tu: TUView, f: Finding, ctx: FixContext, obj: str, why: NoFix) -> FixProposal | NoFix:
    if f.data.get("containers"):  # a section per call would still let threads in between the steps
        shown = ", ".join(f"{obj}->{c}" for c in f.data["containers"])
        return NoFix(f"{why.reason}; the method changes {shown} in several steps, which only one "
                     "critical section around all of them keeps consistent")
    stmts = {}
    for site in f.related[:f.data.get("own_related", len(f.related))]:  # a root cause: its own writes
        if site.path != f.path:
            return NoFix("a write is in another file: fix it by hand")
        try:
            at = _offset(ctx, f.path, site.line, site.column)
        except ValueError:
            return NoFix("the file changed since it was scanned; scan again")
        node = node_at(tu, f.path, at)
        s = statement_of(tu, ctx, node) if node is not None else None
        if s is None or not s.expression or jumps_out(ctx, f.path, s.start, s.end):
            return NoFix(f"{why.reason}, and the write at line {site.line} is part of a condition, "
                         "declaration or return")
        stmts.setdefault(s.start, s)
    if not stmts:
        return why
    runs = merge_adjacent(ctx, f.path, list(stmts.values()))  # neighbours share one section
    edits = []
    for run in runs:
        for start, end, text in wrap(ctx, f.path, run, ctx.macro(TEMPLATE, "begin", obj=obj),
                                     ctx.macro(TEMPLATE, "end")):
            edits.append(Edit(f.path, start, end, text))
    return FixProposal("unsafe", f"write the fields of '{obj}' inside a critical section on it (each "
                                 "write on its own: keep related writes together by hand)", edits,
                       apis=["Py_BEGIN_CRITICAL_SECTION"])
