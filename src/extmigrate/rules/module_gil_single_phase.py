"""FT202 module-gil-single-phase: a single-phase PyInit_* that never calls PyUnstable_Module_SetGIL."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blanked
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.module_gil_common import API, word
from extmigrate.tree import K, Node, TUView, Use

_SET_GIL = word(API["set_gil"])


@register
class ModuleGilSinglePhase(Rule):
    code = "FT202"
    name = "module-gil-single-phase"
    category = "module-gil"
    severity = "warning"
    summary = "single-phase module init does not call PyUnstable_Module_SetGIL"
    explanation = ("A module created with PyModule_Create keeps the GIL on a free-threaded interpreter "
                   "unless its init function calls PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED); "
                   "importing it re-enables the GIL for the whole process.")
    action = ("Once the module's code is thread-safe, call PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) "
              "right after the module is created, under #ifdef Py_GIL_DISABLED.")
    doc = """
    Checks each `PyInit_*` function that creates its module with `PyModule_Create`/`PyModule_Create2`,
    directly or through a helper in the same file. A `PyUnstable_Module_SetGIL` call in any
    preprocessor branch of the init function, the helper or a function the init function calls counts.

    Before:

        PyMODINIT_FUNC PyInit_spam(void) {
            PyObject *m = PyModule_Create(&spam_module);
            if (m == NULL)
                return NULL;
            return m;
        }

    After:

        PyMODINIT_FUNC PyInit_spam(void) {
            PyObject *m = PyModule_Create(&spam_module);
            if (m == NULL)
                return NULL;
        #ifdef Py_GIL_DISABLED
            PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
        #endif
            return m;
        }
    """

    def check(self, tu: TUView) -> list[Finding]:
        creates = creation_uses(tu)
        if not creates:
            return []
        creators = _creating_functions(tu, creates)
        out = []
        for fn in tu.functions:
            if not fn.spelling.startswith("PyInit_") or fn.spelling not in creators:
                continue
            chain = creators[fn.spelling]  # [PyInit_x, helper, ...] down to the creating function
            maker = chain[-1]
            if _declares(tu, fn) or any(_declares(tu, f) for f in chain[1:]):
                continue
            use = next(u for u in creates if u.func is maker)
            data = creation_site(tu, use)
            where = "" if maker is fn else f" (through {maker.spelling}())"
            out.append(self.finding(
                use, fn.spelling,
                f"single-phase module init '{fn.spelling}' creates its module{where} without "
                "PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED): importing it re-enables the GIL",
                function=maker.spelling, data={**data, "init": fn.spelling}))
        return out


def creation_uses(tu: TUView) -> list[Use]:
    """PyModule_Create(2) uses inside functions, preferring the call (which has an AST node)."""
    by_pos: dict[tuple, Use] = {}
    for name in API["create"]:
        for u in tu.uses.get(name, ()):
            key = (u.path, u.start)
            if u.func is not None and (key not in by_pos or by_pos[key].node is None):
                by_pos[key] = u
    return sorted(by_pos.values(), key=lambda u: (u.path, u.start))


def _creating_functions(tu: TUView, creates: list[Use]) -> dict[str, list[Node]]:
    """Function name -> call chain to the function that creates the module (same TU)."""
    chains: dict[str, list[Node]] = {}
    for u in creates:
        chains.setdefault(u.func.spelling, [u.func])
    changed = True
    while changed:  # callers of creating functions create too
        changed = False
        for name in list(chains):
            for u in tu.uses.get(name, ()):
                caller = u.func
                if u.node is not None and caller is not None and caller.spelling not in chains:
                    chains[caller.spelling] = [caller] + chains[name]
                    changed = True
    return chains


def _declares(tu: TUView, fn: Node) -> bool:
    """SetGIL in the function's text (any #if branch) or in a function it calls from this TU."""
    if _SET_GIL.search(blanked(tu, fn.path), fn.start, fn.end):
        return True
    defined = {f.spelling: f for f in tu.functions}
    for name, uses in tu.uses.items():
        callee = defined.get(name)
        if callee is not None and callee is not fn and any(u.func is fn for u in uses):
            if _SET_GIL.search(blanked(tu, callee.path), callee.start, callee.end):
                return True
    return False


def _statement(node: Node) -> Node:
    """The statement of a compound statement that holds the node."""
    while node.parent is not None and node.parent.kind != K.COMPOUND_STMT:
        node = node.parent
    return node


def _stmt_end(text: str, stmt: Node) -> int:
    """Offset just past the statement (its `;` or closing brace)."""
    end = stmt.end
    if text[end - 1:end] in (";", "}"):
        return end
    semi = text.find(";", end)
    return semi + 1 if semi >= 0 else end


def _assigned_var(tu: TUView, text: str, call: Node, stmt: Node) -> str | None:
    """The variable the created module is stored in: `T *m = create(...)` or `m = create(...)`."""
    for anc in [call] + list(call.ancestors()):
        if anc.kind == K.VAR_DECL:
            return anc.spelling
        if anc.kind == K.BINARY_OPERATOR:
            kids = tu.children_of(anc)
            if len(kids) == 2 and re.fullmatch(r"\s*=\s*", text[kids[0].end:kids[1].start]):
                return text[kids[0].start:kids[0].end].strip()
        if anc is stmt:
            break
    return None


def _is_null_test(cond: str, var: str) -> bool:
    """`m == NULL`, `!m`, `NULL == m`, `m == 0` ... alone or as one side of `||`."""
    v = re.sub(r"[\s()]", "", var)
    tests = {f"!{v}"} | {f"{v}=={z}" for z in ("NULL", "0", "nullptr")} | {f"{z}=={v}" for z in ("NULL", "0", "nullptr")}
    return any(part in tests for part in re.sub(r"[\s()]", "", cond).split("||"))


def creation_site(tu: TUView, use: Use) -> dict:
    """Where the module object is created and NULL-checked, for the fix layer."""
    text = blanked(tu, use.path)
    if use.node is None:
        return {"module_var": None}
    stmt = _statement(use.node)
    var = _assigned_var(tu, text, use.node, stmt)
    end = _stmt_end(text, stmt)
    data = {"module_var": var, "returns_directly": stmt.kind == K.RETURN_STMT,
            "create_stmt": [stmt.start, end], "null_check": None, "insert_after": None}
    if var is None:
        return data
    if stmt.kind == K.IF_STMT:  # if ((m = PyModule_Create(...)) == NULL) ...
        data["null_check"] = [stmt.start, end]
    else:
        siblings = tu.children_of(stmt.parent) if stmt.parent is not None else []
        later = [s for s in siblings if s.start >= end]
        if later and later[0].kind == K.IF_STMT:
            cond = tu.children_of(later[0])
            cond_text = text[cond[0].start:cond[0].end] if cond else ""
            if _is_null_test(cond_text, var):
                data["null_check"] = [later[0].start, _stmt_end(text, later[0])]
    data["insert_after"] = (data["null_check"] or data["create_stmt"])[1]
    return data
