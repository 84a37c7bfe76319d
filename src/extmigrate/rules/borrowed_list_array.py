"""FT109 borrowed-list-array: a list's item array read directly (`((PyListObject *)o)->ob_item`)."""

from __future__ import annotations

import re

from clang.cindex import CursorKind as K

from extmigrate.analysis.borrowed import KB, FuncInfo, exempt_function, in_dead_code, judge_container, norm
from extmigrate.analysis.callgraph import referenced
from extmigrate.analysis.text import arg_list, extent
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView


@register
class BorrowedListArray(Rule):
    code = "FT109"
    name = "borrowed-list-array"
    category = "borrowed-ref"
    severity = "warning"
    summary = "a list's item array (ob_item) read directly on a list other threads can mutate"
    explanation = ("Reading PyListObject's ob_item by hand skips even the macros' checks: without the "
                   "GIL another thread can grow the list (the array is replaced and the old one freed) "
                   "or replace an item and free it while this thread reads the array or uses the item.")
    action = ("Hold Py_BEGIN_CRITICAL_SECTION(list) around the reads and the uses of the items, or "
              "use PyList_GetItemRef (3.13+, compat shim for older Pythons) per item.")
    doc = """
    Reported: a member access `->ob_item` on a PyListObject written in the project's code (casts
    included), where the list may be another thread's. The expansion of PyList_GET_ITEM and
    PySequence_Fast_ITEMS is not reported here (FT101 / FT108 report those). Not reported, as for
    FT101: lists the function created and has not published, accesses inside a critical section on
    the list or under a lock, the object a tp_dealloc / tp_clear destroys, dead code; tuples'
    ob_item (a tuple does not change).

    Before:

        PyObject **items = ((PyListObject *)list)->ob_item;
        for (i = 0; i < n; i++)
            total += PyFloat_AsDouble(items[i]);

    After:

        Py_BEGIN_CRITICAL_SECTION(list);
        PyObject **items = ((PyListObject *)list)->ob_item;
        for (i = 0; i < PyList_GET_SIZE(list); i++)
            total += PyFloat_AsDouble(items[i]);
        Py_END_CRITICAL_SECTION();
    """

    def check(self, tu: TUView) -> list[Finding]:
        apis = {a.name: a for a in KB.for_rule(self.code) if a.kind == "member"}
        out: list[Finding] = []
        for node in tu.of_kind(K.MEMBER_REF_EXPR):
            api = apis.get(node.spelling)
            if api is None or node.func is None or in_dead_code(tu, node.path, node.start):
                continue
            ref = referenced(tu, node)
            parent = ref.semantic_parent if ref is not None else None
            if parent is None or parent.type.spelling != api.struct:
                continue
            spelled = _base_text(tu, node, api.name)
            if spelled is None:  # a macro's expansion (PyList_GET_ITEM): FT101 / FT108 report it
                continue
            base, where = spelled
            container = norm(base)
            fi = FuncInfo.of(tu, node.func)
            if exempt_function(fi):
                continue
            shared = judge_container(fi, node.path, node.start, container, api)
            if shared is None:
                continue
            related, assumes = shared
            data = {"api": api.name, "container": container, "holds": api.holds, "remedy": api.remedy}
            if assumes:
                data["assumes"] = assumes
            out.append(self.finding(where, f"{container}->ob_item",
                                    f"{container}->ob_item reads the list's item array without "
                                    f"locking; another thread can grow '{container}' (the array is "
                                    f"replaced and freed) or free an item while it is in use: hold "
                                    f"Py_BEGIN_CRITICAL_SECTION({container}) around the reads and the "
                                    "uses, or use PyList_GetItemRef", function=node.func.spelling,
                                    related=related, data=data))
        return out


def _base_text(tu: TUView, node, member: str) -> tuple[str, tuple] | None:
    """The text of the object in `<base>->member` as the project's file spells it, also inside a
    macro's argument (`Py_NewRef(((PyListObject *)o)->ob_item[i])`, where libclang gives the macro's
    extent); None when only a macro's body spells it (PyList_GET_ITEM)."""
    text = tu.node_text(node)
    if text.endswith(member):
        return text[: -len(member)].rstrip().removesuffix("->").removesuffix("."), node.extent()
    src = tu.source(node.path).decode("utf-8", "replace")
    call = re.match(r"[A-Za-z_]\w*\s*\(", src[node.start:])
    if call is None:
        return None
    close = arg_list(src, node.start + call.end() - 1)[1]
    arg = re.search(rf"(?:->|\.)\s*{member}\b", src[node.start:close])
    base = _postfix_before(src, node.start + arg.start()) if arg else None
    if base is None:
        return None
    start = src.rindex(base, 0, node.start + arg.start())
    return base, extent(node.path, src, start, node.start + arg.end())


def _postfix_before(src: str, end: int) -> str | None:
    """The postfix expression ending at `end` (names, ->, ., [..], (..) groups)."""
    i, depth = end, 0
    while i > 0:
        ch = src[i - 1]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and not (ch.isalnum() or ch in "_>.-"):
            break
        i -= 1
    return src[i:end].strip() or None
