"""Where a reference taken inside a nested block (`if (c) { v = PyDict_GetItem(d, k); ... }`) is
released: at the end of that block and on every way out of it, or, when the variable is used after
the block, on every way out of the function or of the loop's pass, with the variable NULL on the
paths that did not take it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import FixContext, NoFix
from extmigrate.tree import K, TUView

LABEL = re.compile(r"^\s*[A-Za-z_]\w*\s*:(?!:)", re.M)
SWITCH_LABEL = re.compile(r"^\s*(default|case\b)", re.M)


@dataclass
class Scope:
    node: object  # the compound statement (or the function) whose ways out release
    kind: str  # "function", "loop" (each pass) or "block"
    decl: int | None  # file offset after the declaration's name, where " = NULL" goes; None: no insertion
    clear: bool = False  # Py_CLEAR: the variable must be NULL again for the next pass


def decl_pattern(var: str) -> re.Pattern:
    """`PyObject *var;` / `PyObject *a, *var = NULL,` (group 1: an initialiser to NULL)."""
    return re.compile(rf"\bPyObject\b[^;{{}}()]*\*\s*{re.escape(var)}\b(\s*=\s*(NULL|0)\b)?(?=\s*[;,])")


def _blocks(tu: TUView, path: str, func) -> list:
    return [n for n in tu.of_kind(K.COMPOUND_STMT) if n.path == path and func.start <= n.start < func.end]


def _innermost(blocks: list, at: int):
    return max((b for b in blocks if b.start <= at < b.end), key=lambda b: b.start, default=None)


def nested(tu: TUView, ctx: FixContext, path: str, func, outer, kind: str, var: str,
           call: tuple[int, int]) -> Scope | NoFix:
    """The scope for a call in a block nested inside `outer` (the function, or the loop's body)."""
    name = re.escape(var)
    blocks = _blocks(tu, path, func)
    block = _innermost(blocks, call[0])
    text = blank_comments(ctx.text(path, func.start, func.end))
    at = call[0] - func.start
    stmt = max(text.rfind(";", 0, at), text.rfind("{", 0, at), text.rfind("}", 0, at)) + 1
    in_decl = re.search(rf"\bPyObject\s*\*\s*{name}\s*=\s*$", text[stmt:at])
    decl = None if in_decl else list(decl_pattern(var).finditer(text, 0, stmt))
    if not in_decl and not decl:
        return NoFix(f"'{var}' is not a PyObject * declared in the function: release the reference "
                     "by hand")
    d = decl[-1] if decl else None
    home = block if in_decl else _innermost(blocks, func.start + d.start())
    kept = [m for m in re.finditer(rf"(?<![\w>.]){name}\b", text)  # its uses outside the block
            if not block.start <= func.start + m.start() < block.end
            and not (d is not None and d.start() <= m.start() < d.end())]
    decl_at = None if in_decl or (d.group(1) or "") else func.start + d.end()
    if home is block or not kept:  # only this block uses it: released at its end and on the way out
        why = _block_problem(tu, path, text, block, func.start, call, var)
        return NoFix(why) if why else Scope(block, "block", None)
    outer_body = outer if kind == "loop" else _innermost(blocks, func.start + text.find("{"))
    if home is outer_body:
        return Scope(outer, kind, decl_at)
    if kind == "loop" and home is _innermost(blocks, func.start + text.find("{")):
        return _outside_loop(text, func.start, outer, var, stmt, d, decl_at)
    return NoFix(f"'{var}' is declared in another block than the one using it: release the reference "
                 "by hand")


def _block_problem(tu: TUView, path: str, text: str, block, base: int, call, var: str) -> str | None:
    """Why the block cannot own the reference: a switch's body (a case label jumps past the call),
    a label in it after the call (a goto reaches the release without the call)."""
    for sw in tu.of_kind(K.SWITCH_STMT):
        if sw.path == path and any(k.start == block.start for k in tu.children_of(sw)):
            return f"'{var}' is taken in a switch's body: release the reference by hand"
    after = text[call[1] - base:block.end - base]
    if LABEL.search(SWITCH_LABEL.sub("", after)):
        return "a label after the call in its block can be reached without it: release the reference by hand"
    return None


def _outside_loop(text: str, base: int, body, var: str, stmt: int, d, decl_at) -> Scope | NoFix:
    """A variable of the function taken in a loop: it must be NULL at the start of every pass (set
    once, cleared at the end of each), so nothing outside the loop and nothing in the pass before
    the call may read it."""
    name = re.escape(var)
    b0, b1 = body.start - base, body.end - base
    for m in re.finditer(rf"(?<![\w>.]){name}\b", text):
        if m.start() >= d.start() and m.end() <= d.end():
            continue
        if not b0 <= m.start() < b1:
            return NoFix(f"'{var}' is taken in a loop and used outside it: release the reference by hand")
        if m.start() < stmt and not re.match(rf"{name}\s*=\s*(NULL|0)\s*;", text[m.start():]):
            return NoFix(f"'{var}' is read in the loop's pass before it is taken: release the reference "
                         "by hand")
    return Scope(body, "loop", decl_at, clear=True)
