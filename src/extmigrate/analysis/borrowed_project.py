"""Project-wide step of the borrowed-reference rules (FT1xx); defines no rule.

A finding whose container would be private if facts of other files held carries them as
`data["assumes"]` (borrowed.assuming()). Per TU, `facts(tu)` writes down what decides them:
- returns: what each non-static function returns ('private'/'tuple' and the facts that needs);
- calls: for each call of a non-static project function, what each PyObject* argument is;
- refs: every use of a file-scope pointer variable and of a PyObject* parameter of a non-static
  function: 'read' (compared, tested, given to a C-API call that only reads it, or to a parameter
  that is only read), 'keep' (filled or released, never stored elsewhere), 'set' (assigned a new
  container or NULL) or 'bad' (anything else: stored, returned, aliased, its address taken);
- the call graph (callgraph.py: what runs only during module initialisation).
`drop_proven()` proves facts as a least fixpoint (a cycle proves nothing) and drops each finding
whose every assumption is proven:
- ret:f      every definition of f returns only private or immutable values;
- arg:f:i    f's address is never taken, f is called, and every call passes a private value;
- global:K   K is defined in the project, only read after module initialisation, and during it only
             set to a new container, filled or released;
- ro:f:i     every use of f's parameter i is a read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from clang.cindex import BinaryOperator, StorageClass, TypeKind

from extmigrate import cursors
from extmigrate.analysis import callgraph
from extmigrate.analysis import borrowed as B
from extmigrate.analysis.text import blank_comments
from extmigrate.model import Finding
from extmigrate.tree import CASTS, K, Node, TUView

_THROUGH = {K.UNEXPOSED_EXPR, K.PAREN_EXPR} | CASTS
_TESTS = {BinaryOperator.EQ, BinaryOperator.NE, BinaryOperator.LAnd, BinaryOperator.LOr}
_SAFE = ("private", "tuple")
_VARIABLE_IDS = frozenset((K.VAR_DECL.value, K.PARM_DECL.value))


def facts(tu: TUView) -> dict[str, Any]:
    """The TU's facts (JSON-able, computed once per TU for every FT1xx rule)."""
    cached = tu.__dict__.get("_borrowed_project")
    if cached is None:
        refs = _refs_by_decl(tu)
        cached = tu.__dict__["_borrowed_project"] = {
            "returns": _returns(tu), "calls": _calls(tu), "globals": _globals(tu, refs),
            "params": _params(tu, refs), "graph": callgraph.collect(tu)}
    return cached


def _extern(cur) -> bool:
    return cursors.linkage(cur) == cursors.EXTERNAL


def _object_param(spelling: str) -> bool:
    return spelling.replace(" ", "") in ("PyObject*", "PyObject*const")


def _returns(tu: TUView) -> dict[str, list]:
    out: dict[str, list] = {}
    for fn in tu.functions:
        if _extern(fn.cursor) and fn.cursor.result_type.get_canonical().kind == TypeKind.POINTER:
            with B.assuming() as deps:
                kind = B._returns_fresh(tu, fn.spelling, 0)
            out[fn.spelling] = [kind, sorted(deps) if kind else []]
    return out


def _calls(tu: TUView) -> dict[str, list]:
    """name -> [[argument index, kind, assumptions], ...] for calls of non-static project functions."""
    out: dict[str, list] = {}
    for name in sorted(tu.uses):
        uses = [u for u in tu.uses[name] if u.node is not None and u.func is not None]
        params = _project_params(tu, uses[0].node) if uses else None
        if not params:
            continue
        calls = out[name] = []
        for use in uses:
            if params == "unknown":
                calls.append([-1, None, []])  # no prototype: which arguments matter is unknown
                continue
            start, _, args, _ = B.call_args(tu, use)
            fi = B.FuncInfo.of(tu, use.func)
            for i in params:
                kind, deps = None, set()
                if i < len(args):
                    with B.assuming() as deps:
                        kind, _ = B.provenance(fi, args[i], start)
                calls.append([i, kind, sorted(deps) if kind in _SAFE else []])
    return out


def _project_params(tu: TUView, call: Node) -> list[int] | str | None:
    """Indices of the PyObject* parameters of a called non-static project function ('unknown'
    without a prototype); None for anything else (the C API, libc, static functions)."""
    ref = callgraph.referenced(tu, call)
    if ref is None or ref.kind != K.FUNCTION_DECL or not _extern(ref):
        return None
    where = ref.location.file
    if where is not None and not tu.is_project_file(where.name):
        return None  # declared in a system header
    if ref.type.kind != TypeKind.FUNCTIONPROTO:
        return "unknown"
    return [i for i, t in enumerate(ref.type.argument_types()) if _object_param(t.spelling)]


def _refs_by_decl(tu: TUView) -> dict[tuple, list[Node]]:
    """Declaration (cursors.decl_id) -> the references to that variable or parameter (once per TU)."""
    refs = tu.__dict__.get("_borrowed_refs")
    if refs is None:
        refs = tu.__dict__["_borrowed_refs"] = defaultdict(list)
        for node, ref in callgraph.decl_refs(tu):
            if ref._kind_id in _VARIABLE_IDS:
                refs[cursors.decl_id(ref)].append(node)
    return refs


def _globals(tu: TUView, refs: dict[tuple, list[Node]]) -> dict[str, dict]:
    """key -> {"defined": bool, "refs": [[function key, how, assumptions], ...]}."""
    out: dict[str, dict] = {}
    seen: set[tuple] = set()
    local = _local_vars(tu)
    for decl, nodes in refs.items():
        if decl in local:
            continue  # declared in a function body: no semantic parent to ask libclang for
        cur = callgraph.referenced(tu, nodes[0])
        if cur.kind != K.VAR_DECL or cur.semantic_parent is None or \
                cur.semantic_parent.kind != K.TRANSLATION_UNIT or \
                cur.type.get_canonical().kind != TypeKind.POINTER or cursors.decl_id(cur) in seen:
            continue
        seen.add(cursors.decl_id(cur))
        entry = out.setdefault(B.var_key(cur), {"defined": False, "refs": []})
        d = cur.get_definition() or (cur if cur.storage_class == StorageClass.STATIC else None)
        entry["defined"] |= d is not None and d.location.file is not None and \
            tu.is_project_file(d.location.file.name)  # its storage is the project's
        for node in nodes:
            how, deps = _how(tu, node, set())
            entry["refs"].append([callgraph.node_key(tu, node.func), how, sorted(deps)])
    for entry in out.values():
        entry["refs"].sort(key=lambda r: (str(r[0]), r[1], r[2]))
    return out


def _local_vars(tu: TUView) -> set[tuple]:
    """The variables declared inside the TU's function bodies (cursors.decl_id)."""
    return {cursors.decl_id(v.cursor) for v in tu.of_kind(K.VAR_DECL) if v.func is not None}


def _params(tu: TUView, refs: dict[tuple, list[Node]]) -> dict[str, list]:
    """'f:i' -> [how, assumptions] for each PyObject* parameter of a non-static function."""
    out: dict[str, list] = {}
    for fn in tu.functions:
        if not _extern(fn.cursor):
            continue
        params = [p for p in tu.children_of(fn) if p.kind == K.PARM_DECL]
        for i, p in enumerate(params):
            if _object_param(p.cursor.type.spelling):
                how, deps = _param_how(tu, p, refs, set())
                out[f"{fn.spelling}:{i}"] = [how, sorted(deps)]
    return out


def _param_how(tu: TUView, param: Node, refs: dict[tuple, list[Node]], active: set) -> tuple[str, set]:
    """The worst use of a parameter: 'read' < 'keep' < 'bad' (and the assumptions of its reads)."""
    key = cursors.decl_id(param.cursor)
    if key in active:
        return "bad", set()  # recursion: decided by nothing
    active.add(key)
    worst, deps = "read", set()
    for node in refs.get(key, ()):
        how, more = _how(tu, node, active)
        deps |= more
        if how in ("bad", "set"):
            return "bad", set()
        if how == "keep":
            worst = "keep"
    active.discard(key)
    return worst, deps


def _how(tu: TUView, node: Node, active: set) -> tuple[str, set]:
    """What the expression around a reference does with the variable's value."""
    if _cleared(tu, node):
        return "keep", set()  # released and set to NULL
    cur, p = node, node.parent
    while p is not None and p.kind in _THROUGH:
        cur, p = p, p.parent
    if p is None or node.func is None:
        return "bad", set()
    kids = tu.children_of(p)
    first = bool(kids) and kids[0] is cur
    if p.kind == K.CALL_EXPR and not first:
        return _passed(tu, p, next(i for i, k in enumerate(kids) if k is cur) - 1, active)
    if p.kind == K.BINARY_OPERATOR:
        op = p.cursor.binary_operator
        if op in _TESTS:
            return "read", set()
        if op == BinaryOperator.Assign and first and len(kids) == 2:
            rhs = B.norm(blank_comments(tu.node_text(kids[1])))
            call = B._call_name(rhs)
            if rhs in B._NULLISH or (call and B.KB.fresh.get(call[0]) in ("list", "dict")):
                return "set", set()
        return "bad", set()
    if p.kind == K.UNARY_OPERATOR and tu.node_text(p).lstrip().startswith("!"):
        return "read", set()
    if p.kind in (K.IF_STMT, K.WHILE_STMT, K.CONDITIONAL_OPERATOR) and first:
        return "read", set()
    return "bad", set()


def _cleared(tu: TUView, node: Node) -> bool:
    """Is the reference the argument of a clearing macro (Py_CLEAR)?"""
    spans = tu.__dict__.get("_borrowed_clears")
    if spans is None:
        spans = tu.__dict__["_borrowed_clears"] = [
            (u.path, u.start, u.end) for u in tu.uses_of(*callgraph.data("writes")["clearing_macros"])
            if u.macro]
    return any(p == node.path and a <= node.start < b for p, a, b in spans)


def _passed(tu: TUView, call: Node, i: int, active: set) -> tuple[str, set]:
    name = call.spelling
    if i in B.KB.reads_only.get(name, ()):
        return "read", set()
    if i in B.KB.keeps_private.get(name, ()):
        return "keep", set()
    ref = callgraph.referenced(tu, call)
    if ref is not None and ref.kind == K.PARM_DECL and ref.type.spelling == "visitproc":
        return "read", set()  # Py_VISIT in a traverse function
    if ref is None or ref.kind != K.FUNCTION_DECL:
        return "bad", set()
    if _extern(ref):
        return "read", {f"ro:{name}:{i}"}
    callee = B._defined(tu, name)
    params = [p for p in tu.children_of(callee) if p.kind == K.PARM_DECL] if callee else []
    if i >= len(params):
        return "bad", set()
    return _param_how(tu, params[i], _refs_by_decl(tu), active)


# -- project-wide ----------------------------------------------------------------------------------
def proven(facts_list: list[dict]) -> set[str]:
    """Every assumption the project's facts prove (least fixpoint)."""
    graph = callgraph.CallGraph([f["graph"] for f in facts_list])
    rules: dict[str, list[tuple[bool, list[str]]]] = defaultdict(list)  # fact -> conditions
    taken = {t for f in facts_list for t in f["graph"]["taken"]}
    defs = {d for f in facts_list for d in f["graph"]["defs"]}
    unknown_calls = {n for f in facts_list for n, calls in f["calls"].items()
                     if any(c[0] < 0 for c in calls)}
    defined = {k for f in facts_list for k, e in f["globals"].items() if e["defined"]}
    for f in facts_list:
        for name, (kind, deps) in f["returns"].items():
            rules[f"ret:{name}"].append((kind in _SAFE, deps))
        for name, calls in f["calls"].items():
            called = name not in taken and name in defs and name not in unknown_calls
            for i, kind, deps in calls:
                rules[f"arg:{name}:{i}"].append((called and kind in _SAFE, deps))
        for key, entry in f["globals"].items():
            rules[f"global:{key}"].append((key in defined, []))
            for func, how, deps in entry["refs"]:
                ok = how == "read" or (how in ("keep", "set") and not graph.runs_after_init(func))
                rules[f"global:{key}"].append((ok, deps))
        for key, (how, deps) in f["params"].items():
            rules[f"ro:{key}"].append((how == "read", deps))
    done = {fact for fact, conds in rules.items() if all(ok and not deps for ok, deps in conds)}
    todo = {fact: conds for fact, conds in rules.items()
            if fact not in done and all(ok for ok, _ in conds)}
    changed = True
    while changed:
        changed = False
        for fact, conds in list(todo.items()):
            if all(set(deps) <= done for _, deps in conds):
                done.add(fact)
                del todo[fact]
                changed = True
    return done


def drop_proven(facts_list: list[dict], findings: list[Finding], code: str) -> None:
    """Remove (in place) the `code` findings whose every assumption the project proves."""
    if not any(f.code == code and f.data.get("assumes") for f in findings):
        return
    done = proven(facts_list)
    findings[:] = [f for f in findings
                   if f.code != code or not f.data.get("assumes") or not set(f.data["assumes"]) <= done]
