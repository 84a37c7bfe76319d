"""Borrowed reference -> strong reference (FT101-FT106): the call is replaced, then the new reference
is owned: an INCREF that made it strong goes, or it is released on every way out of the function."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments, unclosed
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix
from extmigrate.fix.hoist import hoist
from extmigrate.fix.ownership import drop_incref, release_on_exit
from extmigrate.model import Finding
from extmigrate.tree import TUView

TEMPLATE = "borrowed_ref"
# Borrowed APIs that swallow errors (return NULL with no exception): the fix clears the error too.
CLEARS_ERRORS = {"PyDict_GetItem", "PyDict_GetItemString"}
_MACRO_ARG = re.compile(r"\b([A-Z_][A-Z0-9_]*)\s*\(\s*([A-Za-z_]\w*)\s*=\s*$")
_WRAPPED = re.compile(r"(Py_X?NewRef)\s*\(\s*$")


def strong_reference(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    api, repl, form = d["api"], d.get("replacement"), d.get("replacement_form")
    if d.get("remedy") not in ("replace", "replace-or-critical-section") or not repl:
        return NoFix(f"{api}() has no strong-reference replacement")
    if api.startswith("_"):
        return NoFix(f"{api}() is CPython-internal with other arguments than {repl}(): rewrite by hand")
    start, end = d["start"], d["end"]
    call = ctx.text(f.path, start, end)
    if not re.match(rf"{re.escape(api)}\s*\(", call):
        return NoFix("the call is written through a macro or the file changed since the scan")
    how, var, args = d.get("result_use"), d.get("result_var"), d["args"]
    src = ctx.source(f.path)
    line_start = ctx.line_start(f.path, start)
    before = src[line_start:start].decode("utf-8", "replace")
    wrapper = _WRAPPED.search(before) if not var and how in ("incref", "returned") else None
    if wrapper:  # `return Py_NewRef(CALL)`: the reference is already a new one
        how = "incref"
    stmt_from = max(src.rfind(b";", 0, start), src.rfind(b"{", 0, start), src.rfind(b"}", 0, start)) + 1
    if how == "returned" and not wrapper and not _whole_return(
            src[stmt_from:start].decode("utf-8", "replace"), src, end):
        how = "local"  # `return f(CALL);`: only f's result is returned
    if how == "returned":
        return NoFix("the borrowed reference is returned to the caller: changing it to a new reference "
                     "changes the function's contract; take a critical section or rewrite the callers")
    in_arg = _MACRO_ARG.search(before)
    if how == "stored" and in_arg:
        return NoFix(f"the result is assigned to '{in_arg.group(2)}' inside an argument of the macro "
                     f"{in_arg.group(1)}(): its expansion decides how long the reference must live; "
                     "assign it before the macro, or rewrite the macro, by hand")
    if how == "stored":
        return NoFix("the borrowed reference is stored: store a new reference (Py_NewRef) by hand")
    if how == "local" and not var:
        if d.get("in_macro_body"):
            return NoFix("the call is written in a macro's body: expand the macro by hand")
        return hoist(tu, f, ctx, repl, form, api in CLEARS_ERRORS)
    apis = [repl]
    if form == "return":
        if wrapper:  # Py_NewRef(PyList_GetItem(l, i)) -> PyList_GetItemRef(l, i)
            close = re.compile(rb"\s*\)").match(src, end)
            if close is None:
                return NoFix("unexpected text after the call")
            edits = [Edit(f.path, line_start + wrapper.start(), close.end(),
                          ctx.macro(TEMPLATE, "returned", replacement=repl, args=args))]
        else:
            edits = [Edit(f.path, start, end, ctx.macro(TEMPLATE, "returned", replacement=repl,
                                                       args=args))]
    else:
        stmt = _assignment(ctx, f, var)
        if isinstance(stmt, NoFix):
            return stmt
        s0, s1, decl = stmt
        indent = ctx.indent(f.path, s0)
        if api.startswith("PyWeakref"):
            text = ctx.macro(TEMPLATE, "weakref", replacement=repl, args=args, var=var, indent=indent)
            apis.append("Py_NewRef")
        else:
            text = ctx.macro(TEMPLATE, "out", replacement=repl, args=args, var=var, indent=indent,
                             clear_error=api in CLEARS_ERRORS)
        if decl:
            text = f"{decl};\n{indent}{text}"
        edits = [Edit(f.path, s0, s1, text.rstrip("\n"))]
    if how == "incref" and var:
        more = drop_incref(tu, ctx, f.path, var, (start, end))
    elif how == "local":
        more = release_on_exit(tu, ctx, f.path, var, (start, end), d.get("loop"))
    else:
        more = []
    if isinstance(more, NoFix):
        return more
    macro_form = d.get("macro")
    return FixProposal("unsafe" if how == "local" or macro_form else "safe",
                       f"use {repl}() and own the new reference"
                       + (" (released on every return: review)" if how == "local" else ""),
                       edits + more, apis=apis)


def _assignment(ctx: FixContext, f: Finding, var: str | None) -> tuple[int, int, str] | NoFix:
    """(start, end, declaration-or-'') of the statement `var = CALL;` / `T *var = CALL;`."""
    if not var:
        return NoFix("the result is not assigned to a variable: rewrite by hand")
    src = ctx.source(f.path)
    start, end = f.data["start"], f.data["end"]
    ls = ctx.line_start(f.path, start)
    head = src[ls:start].decode("utf-8", "replace")
    tail = re.compile(rb"\s*;").match(src, end)
    m = re.fullmatch(rf"(\s*)((?:[A-Za-z_]\w*\s+)*(?:const\s+)?[A-Za-z_]\w*\s*\*\s*)?{re.escape(var)}\s*=\s*",
                     head)
    if m is None or tail is None:
        return NoFix(f"'{var} = ...' is part of a larger statement: rewrite by hand")
    if _braceless_body(src[:ls + len(m.group(1))].decode("latin-1")):
        return NoFix(f"'{var} = ...' is the body of a braceless if, else or loop: add braces by hand")
    decl = f"{m.group(2).strip()}{'' if m.group(2).strip().endswith('*') else ' '}{var}" if m.group(2) else ""
    return ls + len(m.group(1)), tail.end(), decl


def _braceless_body(before: str) -> bool:
    """Does the statement after `before` form the body of an if/else/loop without braces? The
    replacement is several statements: `if (c) v = CALL; else ...` would lose its else."""
    head = re.sub(r"(?m)^[ \t]*#.*$", "", blank_comments(before)).rstrip()  # no preprocessor lines
    if re.search(r"\b(?:else|do)$", head):
        return True
    if not head.endswith(")"):
        return False  # `;`, `{`, `}`, a label: a statement of its own
    open_at = unclosed(head, len(head) - 1, "(", ")")
    # `if (...)`, `while (...)`, `for (...)`; a macro call without `;` (Py_BEGIN_...) is not
    return open_at is not None and re.search(r"\b(?:if|while|for|switch)\s*$", head[:open_at]) is not None


def _whole_return(before: str, src: bytes, end: int) -> bool:
    """Is the call the whole returned expression (`return (PyObject *)CALL;`)?"""
    head = re.search(r"\breturn\b(.*)$", before, re.S)
    tail = re.compile(rb"[\s)]*;").match(src, end)
    return tail is not None and (head is None or re.fullmatch(r"[\s(]*(\(\s*PyObject\s*\*\s*\))?[\s(]*",
                                                               head.group(1)) is not None)
