"""FT501 refcnt-uniqueness: `Py_REFCNT(o) == 1` used to decide that no one else holds the object."""

from __future__ import annotations

import re

from extmigrate.analysis.typeslots import exposed
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.alloc_common import ft_dead
from extmigrate.rules.base import Rule
from extmigrate.rules.refcnt_common import DATA, as_pyobject, inside_macro, reads, symbol
from extmigrate.tree import CASTS, K, Node, TUView

_UP = {K.UNEXPOSED_EXPR, K.PAREN_EXPR} | CASTS
_OPS = {"EQ": "==", "NE": "!=", "LT": "<", "GT": ">", "LE": "<=", "GE": ">="}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_SMALL = re.compile(r"^\(*\s*(?:\(\s*Py_ssize_t\s*\)\s*)?([12])[uUlL]*\s*\)*$")
_TESTS = DATA["uniqueness"]["tests"]
API = DATA["uniqueness"]["api"]
_DESTRUCTORS = set(DATA["uniqueness"]["destructor_slots"])
_DESTRUCTOR_NAMES = tuple("_" + s for s in DATA["uniqueness"]["destructor_suffixes"])


def _in_destructor(tu: TUView, func: Node, obj: str) -> bool:
    """A resurrection check on `self` in a destructor (tp_dealloc, tp_finalize, tp_del): the object
    is being destroyed, and the test is about the total count, not about sharing."""
    slots = exposed(tu).get(func.spelling, set())
    if not (slots & _DESTRUCTORS or func.spelling.endswith(_DESTRUCTOR_NAMES)):
        return False
    params = [k for k in tu.children_of(func) if k.kind == K.PARM_DECL]
    return bool(params) and params[0].spelling == obj


@register
class RefcntUniqueness(Rule):
    code = "FT501"
    name = "refcnt-uniqueness"
    category = "other"
    severity = "warning"
    summary = "Py_REFCNT(o) == 1 used as a uniqueness test"
    explanation = (
        "On free-threaded Python a reference count of 1 does not mean that no other thread can reach "
        "the object: the count is split between the owning thread and other threads, another thread "
        "may be creating a reference from a borrowed one at the same moment, and the value is read "
        "without synchronisation. Code that mutates or reuses the object in place after such a test "
        "races with those threads.")
    action = (f"Use {API}(o) (CPython 3.14; the compat header falls back to Py_REFCNT(o) == 1 on "
              "builds with the GIL). For an object the caller's evaluation stack owns, 3.14 also has "
              "PyUnstable_Object_IsUniqueReferencedTemporary.")
    doc = f"""
    Reports comparisons of `Py_REFCNT(o)` or `o->ob_refcnt` with 1 (or 2) that ask "is this the only
    reference?": `== 1`, `<= 1`, `< 2`, and the "shared" forms `!= 1`, `> 1`, `>= 2`, in either
    operand order. Comparisons inside `assert()` only check an expectation and are not reported;
    neither is code in `#ifndef Py_GIL_DISABLED` / pre-3.13 branches, nor a resurrection check on
    `self` in a destructor (tp_dealloc / tp_finalize / tp_del, or a function named `*_dealloc`),
    which is about the total count of an object being destroyed.

    Before:

        if (Py_REFCNT(result) == 1) {{
            /* reuse the tuple in place */
        }}

    After:

        if ({API}(result)) {{
            /* reuse the tuple in place */
        }}
    """

    def check(self, tu: TUView) -> list[Finding]:
        out = []
        checks = DATA["uniqueness"]["checks"]
        for read in reads(tu):
            cmp, side = read[0], None
            while cmp.parent is not None and cmp.parent.kind in _UP:
                cmp = cmp.parent
            side, cmp = cmp, cmp.parent
            if cmp is None or cmp.kind != K.BINARY_OPERATOR or cmp.func is None:
                continue
            op = getattr(cmp.cursor, "binary_operator", None)
            sym = _OPS.get(op.name) if op is not None else None
            kids = tu.children_of(cmp)
            if sym is None or len(kids) != 2:
                continue
            other = kids[1] if kids[0] is side else kids[0]
            small = _SMALL.match(tu.node_text(other))
            if not small:
                continue
            n = small.group(1)
            if other is kids[0]:
                sym = _MIRROR[sym]
            test = _TESTS.get(f"{sym} {n}")
            if test is None or ft_dead(tu, cmp.path, cmp.start) or \
                    inside_macro(tu, checks, cmp.path, cmp.start):
                continue
            node, obj, form = read
            if _in_destructor(tu, cmp.func, symbol(obj)):
                continue
            replacement = f"{'!' if test == 'shared' else ''}{API}({as_pyobject(tu, node, form, obj)})"
            text = tu.node_text(cmp)
            written = bool(re.search(r"(==|!=|<=|>=|<|>)", text)) and kids[0].end <= kids[1].start
            out.append(self.finding(
                cmp, symbol(obj),
                f"'{text}' tests whether '{obj}' is {'uniquely referenced' if test == 'unique' else 'shared'}"
                f": on free-threaded Python the count does not prove that no other thread holds a "
                f"reference; use {replacement}",
                data={"cmp_start": cmp.start, "cmp_end": cmp.end, "refcnt_start": node.start,
                      "refcnt_end": node.end, "object": obj, "operator": sym, "literal": int(n),
                      "test": test, "form": form, "replacement": replacement, "api": API,
                      "written": written}))
        return out
