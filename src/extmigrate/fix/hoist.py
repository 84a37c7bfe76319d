"""A borrowed-reference call used inside a larger expression (`return PyLong_AsLong(PyList_GET_ITEM(l,
i));`, `foo(PyDict_GetItem(d, k), x);`, `long n = f(PyList_GetItem(l, 0));`): the call moves into a
strong-reference temporary before the statement, the statement uses the temporary, and the temporary
is released right after it (a return computes its value first).

The replacement returns NULL exactly where the borrowed call did (a missing key, an index out of
range with IndexError set; PyList_GET_ITEM never checked its index), so the statement sees the same
values and no NULL check is added; Py_XDECREF releases it whatever it holds."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix
from extmigrate.fix.ownership import STEALS, _args
from extmigrate.fix.stmt import jumps_out, node_at, statement_of
from extmigrate.model import Finding
from extmigrate.analysis.text import blank_comments
from extmigrate.tree import K, TUView

TEMP = "extmigrate_item"
TEMPLATE = "borrowed_ref"
_HEADS = {K.IF_STMT: "if", K.WHILE_STMT: "while", K.FOR_STMT: "for", K.SWITCH_STMT: "switch",
          K.DO_STMT: "do-while"}


def hoist(tu: TUView, f: Finding, ctx: FixContext, repl: str, form: str,
          clear_error: bool) -> FixProposal | NoFix:
    d = f.data
    start, end, path = d["start"], d["end"], f.path
    node = node_at(tu, path, start) or _enclosing(tu, path, start, end)
    s = statement_of(tu, ctx, node) if node is not None else None
    if s is None:
        return NoFix("the result is used inside a larger expression that is not a statement of a "
                     "function body: assign it to a variable first")
    text = ctx.text(path, s.start, s.end)
    c0, c1 = start - s.start, end - s.start
    if re.search(r"&&|\|\||\?", blank_comments(text[:_head_end(text, s.node.kind)])):
        return NoFix("the result is used in a conditional expression (&&, ||, ?:): taking it before "
                     "the statement would run the call where the code did not; rewrite by hand")
    if s.node.kind == K.IF_STMT and s.braced and c1 <= _head_end(text, s.node.kind):
        return _condition(tu, f, ctx, s, repl, form, clear_error)
    if s.node.kind in _HEADS:
        return NoFix(f"the result is used in the head of a {_HEADS[s.node.kind]} statement: assign "
                     "it to a variable before it and release it after")
    is_return = s.node.kind == K.RETURN_STMT
    is_decl = s.node.kind == K.DECL_STMT
    if not (is_return or is_decl or s.expression):
        return NoFix("the result is used inside a larger statement: assign it to a variable first")
    if jumps_out(ctx, path, s.start + (len("return") if is_return else 0), s.end):
        return NoFix("the statement using the result also jumps (return, goto, break): assign the "
                     "result to a variable first")
    stolen = _stolen_by(blank_comments(text), c0, c1)
    if stolen:
        return NoFix(f"the borrowed reference is handed to {stolen}(), which steals it: hand it a "
                     "new reference (Py_NewRef) and drop the Py_INCREF that made it one, by hand")
    func = tu.function_at(path, start)
    rtype = func.cursor.result_type.spelling if func is not None else ""
    if is_return and rtype == "void":
        return NoFix("a void function returns a value")
    indent = ctx.indent(path, s.start)
    name = f"{TEMP}_{f.line}" if is_decl else TEMP  # a declaration stays in its block: no braces
    if re.search(rf"\b{name}\b", text):  # a temporary of an earlier run: never shadow it
        name = next(n for n in (f"{TEMP}_{f.line}_{i}" for i in range(2, 99)) if n not in text)
    take = _take(ctx, f, name, indent, repl, form, clear_error)
    used = text[:c0] + name + text[c1:]
    if is_return:
        expr = re.fullmatch(r"return\s*(.*?)\s*;", used, re.S).group(1)
        body = ctx.macro("ownership", "release_and_return_value", var=name, type=rtype, expr=expr)
        new = "{ " + take + " " + body[2:]  # one block: the temporary, then the value, released
    elif is_decl:
        new = f"{take}\n{indent}{used}\n{indent}Py_XDECREF({name});"
    else:
        new = f"{{\n{indent}    {take.replace(chr(10) + indent, chr(10) + indent + '    ')}\n" \
              f"{indent}    {used}\n{indent}    Py_XDECREF({name});\n{indent}}}"
        if not s.braced:
            new = new.replace("\n" + indent + "    ", " ").replace("\n" + indent + "}", " }")
    run = ctx.macro("ownership", "release", var=name) if is_return else ""  # merges with other releases
    return FixProposal("unsafe", f"take a new reference with {repl}() in a temporary, released after the "
                                 "statement (review)", [Edit(path, s.start, s.end, new, run)], apis=[repl])


def _take(ctx: FixContext, f: Finding, name: str, indent: str, repl: str, form: str,
          clear_error: bool) -> str:
    """`PyObject *name = <the strong-reference call>;` (the out form: NULL, then the call)."""
    args = f.data["args"]
    if form == "return":
        return f"PyObject *{name} = {ctx.macro(TEMPLATE, 'returned', replacement=repl, args=args)};"
    return (f"PyObject *{name} = NULL;\n{indent}"
            + ctx.macro(TEMPLATE, "out", replacement=repl, args=args, var=name, indent=indent,
                        clear_error=clear_error).strip("\n"))


def _head_end(text: str, kind) -> int:
    """End of an if/while/for/switch statement's parenthesised head (the whole text otherwise)."""
    if kind not in _HEADS or kind == K.DO_STMT:
        return len(text)
    open_at = text.find("(")
    args = _args(text, open_at) if open_at >= 0 else []
    return open_at + 1 + len(",".join(args)) + 1 if args else len(text)


def _condition(tu: TUView, f: Finding, ctx: FixContext, s, repl: str, form: str,
               clear_error: bool) -> FixProposal:
    """`if (f(CALL)) ...` (in a block) -> the temporary, the condition computed into an int, the release, then
    `if (extmigrate_cond_N) ...`: the branches run with nothing to release."""
    path, n = f.path, f.line
    text = ctx.text(path, s.start, s.end)
    head = _head_end(text, s.node.kind)
    open_at = text.find("(")
    name, cond = f"{TEMP}_{n}", f"extmigrate_cond_{n}"
    indent = ctx.indent(path, s.start)
    c0, c1 = f.data["start"] - s.start, f.data["end"] - s.start
    expr = text[open_at + 1:c0] + name + text[c1:head - 1]
    new = (f"{_take(ctx, f, name, indent, repl, form, clear_error)}\n"
           f"{indent}int {cond} = ({expr.strip()}) != 0;\n"
           f"{indent}Py_XDECREF({name});\n{indent}{text[:open_at + 1]}{cond})")
    return FixProposal("unsafe", f"take a new reference with {repl}() in a temporary, released after the "
                                 "condition (review)", [Edit(path, s.start, s.start + head, new)], apis=[repl])


def _enclosing(tu: TUView, path: str, start: int, end: int):
    """The smallest node of a function holding [start, end): a call written in a macro's argument
    has no node of its own."""
    best = None
    for n in tu.nodes:
        if n.func is not None and n.path == path and n.start <= start and end <= n.end and \
                (best is None or n.end - n.start < best.end - best.start):
            best = n
    return best


def _stolen_by(text: str, c0: int, c1: int) -> str | None:
    """The stealing API (data/steals.toml) whose stolen argument is the call at text[c0:c1]."""
    for fn, idx in STEALS.items():
        for m in re.finditer(rf"\b{re.escape(fn)}\s*\(", text[:c0]):
            args = _args(text, m.end() - 1)
            pos = m.end()
            for i, a in enumerate(args):
                at = text.find(a, pos)
                if i == idx and at <= c0 and c1 <= at + len(a):
                    return fn
                pos = at + len(a)
    return None
