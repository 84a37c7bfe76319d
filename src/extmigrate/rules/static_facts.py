"""Shared analysis of the static-state rules (FT301, FT302, FT303); defines no rule itself.

Per TU, `tu_facts(tu)` finds every variable of static storage duration the project defines and every
write to it: assignments, compound assignments, ++/--, stores into its elements and members, and its
address (or its decayed array) handed to a function that writes through it (memcpy, sprintf, a
non-const pointer parameter, PyArg_ParseTuple outputs).  Each write carries its enclosing function
and whether a lock, a critical section or an atomic operation guards it.  It also finds the
check-then-set shape (`if (cache == NULL) cache = ...`).  Writes in preprocessor branches a
free-threaded build never compiles (`#if PY_VERSION_HEX < 0x030D0000`, `#ifndef Py_GIL_DISABLED`)
are dropped.  `classify(facts_list)` joins the TUs with
the call graph, drops writes made only during module initialisation, and decides per variable which
one rule reports it: lazy-init race (FT302) before static buffer (FT303) before the rest (FT301).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from typing import Any

from clang.cindex import BinaryOperator, Cursor, LinkageKind, StorageClass, TLSKind, TypeKind

from extmigrate import cursors
from extmigrate.analysis import callgraph
from extmigrate.analysis.guards import guard_at
from extmigrate.analysis.ppbranch import file_dead_ranges, in_dead_branch
from extmigrate.analysis.text import blank_comments
from extmigrate.model import Finding, Site
from extmigrate.tree import CASTS, K, Node, TUView

_ARRAYS = {TypeKind.CONSTANTARRAY, TypeKind.INCOMPLETEARRAY, TypeKind.VARIABLEARRAY,
           TypeKind.DEPENDENTSIZEDARRAY}
_CHARS = {TypeKind.CHAR_S, TypeKind.CHAR_U, TypeKind.SCHAR, TypeKind.UCHAR, TypeKind.WCHAR,
          TypeKind.CHAR16, TypeKind.CHAR32}
_COPY_HOWS = ("copy",)


def _cfg(section: str, key: str) -> Any:
    return callgraph.data(section)[key]


# -- variables ---------------------------------------------------------------------------------------
_VAR_ID = K.VAR_DECL.value
_LINKED = frozenset((cursors.INTERNAL, cursors.EXTERNAL))


def _static_var(cur: Cursor | None) -> bool:
    """A variable of static storage duration (raw libclang ids: enum conversions cost more)."""
    if cur is None or cur._kind_id != _VAR_ID:
        return False
    return cursors.linkage(cur) in _LINKED or cursors.storage_class(cur) == cursors.STATIC


def _var_key(decl: Cursor, path: str) -> tuple[str, str, str | None]:
    """(key, scope, owning function) of a static-storage variable."""
    parent = decl.semantic_parent
    if parent is not None and parent.kind in (K.FUNCTION_DECL, K.CXX_METHOD):
        return f"{path}:{parent.spelling}:{decl.spelling}", "function", parent.spelling
    if decl.linkage == LinkageKind.INTERNAL:
        return f"{path}:{decl.spelling}", "file", None
    return decl.spelling, "global", None


def _names_any(spelling: str, words: list[str]) -> bool:
    return any(re.search(rf"(?<![\w:]){re.escape(w)}", spelling) for w in words)


def _skip_reason(tu: TUView, decl: Cursor) -> str | None:
    t = decl.type
    spelling = t.spelling
    base = t.element_type if t.kind in _ARRAYS else t
    # the object itself (a type object, a mutex), not a pointer to one: `static PyTypeObject *T`
    # created lazily is shared state like any other
    if base.get_canonical().kind != TypeKind.POINTER and \
            _names_any(base.spelling, _cfg("skip_types", "types")):
        return "definition-or-lock"
    if _names_any(spelling, _cfg("atomics", "type_markers")):
        return "atomic"
    if decl.tls_kind != TLSKind.NONE:
        return "thread-local"
    ext = decl.extent
    head = tu.text(ext.start.file.name, ext.start.offset, ext.end.offset) if ext.start.file else ""
    head = head.split("=", 1)[0]
    if any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", head) for k in _cfg("thread_local", "keywords")):
        return "thread-local"
    elem = t.element_type if t.kind in _ARRAYS else t
    if elem.is_const_qualified() and t.kind != TypeKind.POINTER:
        return "const"
    return None


def _fn_table(t) -> bool:
    """A struct (or array of structs) with a function-pointer member: a table of callbacks."""
    base = (t.element_type if t.kind in _ARRAYS else t).get_canonical()
    if base.kind != TypeKind.RECORD:
        return False
    for f in base.get_fields():
        ft = f.type.get_canonical()
        if ft.kind == TypeKind.POINTER and \
                ft.get_pointee().get_canonical().kind in (TypeKind.FUNCTIONPROTO, TypeKind.FUNCTIONNOPROTO):
            return True
    return False


def _var_info(tu: TUView, decl: Cursor) -> tuple[str, dict] | None:
    d = decl.get_definition()
    # `static int n;` and `int n;` are (tentative) definitions too; only `extern int n;` is not
    defined = d is not None or decl.storage_class != StorageClass.EXTERN
    d = d or decl
    loc = d.extent.start
    if loc.file is None or not tu.is_project_file(loc.file.name):
        return None
    path = loc.file.name
    key, scope, owner = _var_key(d, path)
    t = d.type
    array = t.kind in _ARRAYS
    end = d.extent.end
    return key, {
        "name": d.spelling, "path": path, "start": loc.offset, "end": end.offset, "line": loc.line,
        "column": loc.column, "end_line": end.line, "end_column": end.column, "scope": scope,
        "owner": owner, "type": t.spelling, "array": array,
        "chars": array and t.element_type.get_canonical().kind in _CHARS,
        "pointer": t.get_canonical().kind == TypeKind.POINTER,
        "defined": defined, "skip": _skip_reason(tu, d), "table": _fn_table(t),
    }


# -- writes ------------------------------------------------------------------------------------------
def _atomic_name(name: str) -> bool:
    return name.startswith(tuple(_cfg("atomics", "prefixes")))


def _call_write(tu: TUView, call: Node, arg: Node) -> str | None:
    """How a call writes through the pointer argument `arg`: 'atomic', 'copy', 'call' or None."""
    name = call.spelling or ""
    text = tu.node_text(call).lstrip()
    if _atomic_name(name) or _atomic_name(text):
        return "atomic"
    kids = tu.children_of(call)
    idx = next((i for i, k in enumerate(kids) if k is arg), 0) - 1
    if idx < 0:
        return None
    if idx == 0 and name in _cfg("writes", "copy_into_first"):
        return "copy"
    if name in _cfg("writes", "keeps_pointer"):
        return None
    ref = callgraph.referenced(tu, call)
    if ref is None or ref.kind not in (K.FUNCTION_DECL, K.CXX_METHOD):
        return None
    ftype = ref.type
    if ftype.kind != TypeKind.FUNCTIONPROTO:
        return None  # undeclared or K&R: unknown, so not counted
    params = list(ftype.argument_types())
    if name in _cfg("writes", "varargs_out"):  # outputs are the variadic arguments only
        return "call" if idx >= len(params) else None
    if idx >= len(params):
        return None
    p = params[idx].get_canonical()
    if p.kind == TypeKind.POINTER and not p.get_pointee().is_const_qualified():
        return "call"
    return None


def _unary_op(tu: TUView, op: Node, operand: Node) -> str:
    text = tu.node_text(op).strip()
    for sym in ("++", "--"):
        if text.startswith(sym) or text.endswith(sym):
            return sym
    return text[:1] if text and text[:1] in "&*" and op.start < operand.start else ""


def write_kind(tu: TUView, node: Node) -> str | None:
    """How the expression around a reference to a variable writes to that variable's storage."""
    cur, ptr, part = node, False, ""
    while True:
        p = cur.parent
        if p is None:
            return None
        k = p.kind
        kids = tu.children_of(p)
        first = bool(kids) and kids[0] is cur
        if k == K.PAREN_EXPR:
            pass
        elif k == K.UNEXPOSED_EXPR:
            if _atomic_name(tu.node_text(p).lstrip()):
                return "atomic"
            if not ptr and cur.cursor.type.kind in _ARRAYS:
                ptr = True  # array decays to a pointer into the variable
            elif not ptr:
                return None  # the value is read
        elif k in CASTS:
            if not ptr:
                return None
        elif k == K.MEMBER_REF_EXPR:
            if ptr or cur.cursor.type.get_canonical().kind == TypeKind.POINTER:
                return None  # p->field writes what the pointer points to, not the variable
            part = "member"
        elif k == K.ARRAY_SUBSCRIPT_EXPR:
            if not (ptr and first):
                return None
            ptr, part = False, "index"
        elif k == K.UNARY_OPERATOR:
            op = _unary_op(tu, p, cur)
            if op in ("++", "--"):
                return None if ptr else "incdec"
            if op == "&" and not ptr:
                ptr = True
            elif op == "*" and ptr:
                ptr, part = False, "index"
            else:
                return None
        elif k == K.BINARY_OPERATOR:
            op = p.cursor.binary_operator
            if op == BinaryOperator.Assign and first and not ptr:
                return part or "assign"
            if not (ptr and op in (BinaryOperator.Add, BinaryOperator.Sub)):
                return None
        elif k == K.COMPOUND_ASSIGNMENT_OPERATOR:
            return "compound" if first and not ptr else None
        elif k == K.CALL_EXPR:
            return _call_write(tu, p, cur) if ptr else None
        else:
            return None
        cur = p


_NULL_VALUE = re.compile(r"\(*\s*(?:\(\s*void\s*\*\s*\)\s*)?(?:NULL|0|nullptr|false)\s*\)*")


def _stores_null(tu: TUView, node: Node) -> bool:
    """Does the assignment around `node` store NULL / 0 (a reset, not an initialisation)?"""
    for anc in node.ancestors():
        if anc.kind == K.BINARY_OPERATOR:
            kids = tu.children_of(anc)
            return len(kids) == 2 and bool(_NULL_VALUE.fullmatch(
                blank_comments(tu.node_text(kids[1])).strip()))
        if anc.kind not in (K.PAREN_EXPR, K.UNEXPOSED_EXPR, K.MEMBER_REF_EXPR,
                            K.ARRAY_SUBSCRIPT_EXPR):
            return False
    return False


def _site(node_or_use: Any, func: Node | None, how: str, tu: TUView, var: str,
          guard: str | None) -> dict:
    if isinstance(node_or_use, Node):
        path, start, end, line, col = node_or_use.extent()[:5]
    else:
        u = node_or_use
        path, start, end, line, col = u.path, u.start, u.end, u.line, u.column
    return {"var": var, "path": path, "start": start, "end": end, "line": line, "column": col,
            "func": callgraph.node_key(tu, func), "function": func.spelling if func else None,
            "how": how, "guard": guard}


def _guard(tu: TUView, func: Node | None, offset: int, how: str) -> str | None:
    if how == "atomic":
        return "atomic"
    region = guard_at(tu, func, offset)
    return region.kind if region is not None else None


# -- lazy initialisation -----------------------------------------------------------------------------
def _null_test(cond: str, name: str) -> str | None:
    """'neg' for `!v` / `v == NULL` / `v == -1`, 'pos' for `v` / `v != NULL`, else None."""
    v = rf"\b{re.escape(name)}\b(?:\s*\[[^\]]*\])?"
    null = r"(?:NULL|nullptr|Py_None|-?\s*\d+[uUlL]*|[A-Z][A-Z0-9_]*)"  # unset / sentinel values
    c = cond.strip()
    while c.startswith("(") and c.endswith(")"):
        c = c[1:-1].strip()
    c = re.sub(r"^(?:_?Py_)?(?:UN)?LIKELY\((.*)\)$", r"\1", c)
    if re.fullmatch(rf"!\s*\(?\s*{v}\s*\)?", c) or re.fullmatch(rf"{v}\s*==\s*{null}", c) or \
            re.fullmatch(rf"{null}\s*==\s*{v}", c):
        return "neg"
    if re.fullmatch(v, c) or re.fullmatch(rf"{v}\s*!=\s*{null}", c) or \
            re.fullmatch(rf"{null}\s*!=\s*{v}", c):
        return "pos"
    return None


def _just_returns(tu: TUView, then: Node) -> bool:
    """`return v;` or `{ Py_INCREF(v); return v; }`: the early exit of `if (v) return v; v = ...`."""
    stmts = tu.children_of(then) if then.kind == K.COMPOUND_STMT else [then]
    return 0 < len(stmts) <= 2 and stmts[-1].kind == K.RETURN_STMT


def _disjuncts(cond: str) -> list[str]:
    """'a == NULL || (b == NULL) && c' -> ['a == NULL ', ' (b == NULL) ', ' c'] (top level)."""
    out, depth, cur, i = [], 0, 0, 0
    while i < len(cond):
        ch = cond[i]
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and (cond.startswith("||", i) or cond.startswith("&&", i)):
            out.append(cond[cur:i])
            cur = i = i + 2
            continue
        i += 1
    return out + [cond[cur:]]


def _lazy_shapes(tu: TUView, refs: list[tuple[Node, str]], writes: list[dict]) -> list[dict]:
    """Check-then-set: `if (!v) {... v = x;}` (every static set in that branch is initialised
    lazily too), `if (a == NULL || b == NULL)`, `if (ok && !v)`, and `if (v) return v; ... v = x;`."""
    sets = [w for w in writes
            if w["guard"] is None and w["how"] in ("assign", "index", "member") and not w.get("null")]
    if not sets:
        return []
    set_vars = {w["var"] for w in sets}
    by_path: dict[str, tuple[list[int], list[tuple[Node, str]]]] = {}
    for ref, var in sorted((r for r in refs if r[1] in set_vars), key=lambda r: (r[0].path, r[0].start)):
        starts, items = by_path.setdefault(ref.path, ([], []))
        starts.append(ref.start)
        items.append((ref, var))
    out = []
    for stmt in tu.of_kind(K.IF_STMT):
        kids = tu.children_of(stmt)
        if len(kids) < 2 or stmt.func is None:
            continue
        cond, then = kids[0], kids[1]
        cpath, cstart, cend = cond.extent()[:3]
        starts, items = by_path.get(cpath, ((), ()))
        tested = items[bisect.bisect_left(starts, cstart):bisect.bisect_left(starts, cend)]
        if not tested:
            continue
        parts = _disjuncts(blank_comments(tu.text(cpath, cstart, cend)))
        fkey = callgraph.node_key(tu, stmt.func)
        for ref, var in tested:
            tests = {_null_test(part, ref.spelling) for part in parts}
            if "neg" in tests:  # everything set in the branch
                lo, hi, only = then.start, then.end, None
            elif len(parts) == 1 and "pos" in tests and _just_returns(tu, then):
                lo, hi, only = stmt.end, stmt.func.end, var
            else:
                continue
            hits = [w for w in sets if w["path"] == cpath and lo <= w["start"] < hi
                    and w["func"] == fkey and (only is None or w["var"] == only)]
            if not hits or guard_at(tu, stmt.func, stmt.start) is not None:
                continue
            path, start, end, line, col, eline, ecol = stmt.extent()
            for target in sorted({w["var"] for w in hits}):
                out.append({"var": target, "path": path, "start": start, "end": end, "line": line,
                            "column": col, "end_line": eline, "end_column": ecol, "func": fkey,
                            "function": stmt.func.spelling, "check": ref.spelling,
                            "writes": [w["start"] for w in hits if w["var"] == target],
                            "shape": "check-then-set" if only is None else "early-return"})
            break  # one shape per if statement
    return out


def _dead(tu: TUView, path: str) -> list[tuple[int, int]]:
    """Branches a free-threaded build never compiles (`#if PY_VERSION_HEX < 0x030D0000`)."""
    return file_dead_ranges(tu, path)


def tu_facts(tu: TUView) -> dict[str, Any]:
    """Variables, writes and lazy-init shapes of one TU, plus its call-graph facts (cached)."""
    cached = tu.__dict__.get("_static_facts")
    if cached is not None:
        return cached
    variables: dict[str, dict] = {}
    decl_keys: dict[tuple, str | None] = {}
    names: dict[str, str] = {}
    refs: list[tuple[Node, str]] = []
    writes: list[dict] = []
    for node, decl in callgraph.decl_refs(tu):
        if decl._kind_id != _VAR_ID:
            continue
        h = cursors.decl_id(decl)
        if h not in decl_keys:
            info = _var_info(tu, decl) if _static_var(decl) else None
            decl_keys[h] = info[0] if info else None
            if info:
                names.setdefault(info[0], info[1]["name"])  # what a reference to it is spelled
                old = variables.get(info[0])
                if old is None or (info[1]["defined"] and not old["defined"]):
                    variables[info[0]] = info[1]
        var = decl_keys[h]
        if var is None:
            continue
        refs.append((node, var))
        if node.func is None:
            continue
        how = write_kind(tu, node)
        if how is not None:
            writes.append(_site(node, node.func, how, tu, var, _guard(tu, node.func, node.start, how)))
            writes[-1]["null"] = how == "assign" and _stores_null(tu, node)
    seen = {(w["var"], w["start"]) for w in writes}
    clears = [(u.path, u.start, u.end) for u in tu.uses_of(*_cfg("writes", "clearing_macros"))]
    for w in writes:
        if any(p == w["path"] and a <= w["start"] <= b for p, a, b in clears):
            w["null"] = True
    for use in tu.uses_of(*_cfg("writes", "assigning_macros")):
        if not use.macro or use.func is None or not use.args:
            continue
        name = use.args[0].strip("()& \t")
        for node, var in refs:
            if names[var] == name and node.path == use.path and use.start <= node.start <= use.end:
                if (var, use.start) not in seen and (var, node.start) not in seen:
                    seen.add((var, use.start))
                    writes.append(_site(use, use.func, "assign", tu, var,
                                        _guard(tu, use.func, use.start, "assign")))
                    writes[-1]["null"] = use.name in _cfg("writes", "clearing_macros")
                break
    writes = [w for w in writes if not in_dead_branch(_dead(tu, w["path"]), w["start"])]
    facts = {"vars": variables, "writes": writes, "lazy": _lazy_shapes(tu, refs, writes),
             "calls": callgraph.collect(tu)}
    tu.__dict__["_static_facts"] = facts
    return facts


# -- project-wide ------------------------------------------------------------------------------------
def classify(facts_list: list[dict]) -> list[dict]:
    """One report per racing variable: {"code", "var", "info", "writes", "lazy", "kind"}."""
    graph = callgraph.CallGraph([f["calls"] for f in facts_list])
    variables: dict[str, dict] = {}
    writes: dict[str, dict[tuple, dict]] = defaultdict(dict)
    lazy: dict[str, dict[tuple, dict]] = defaultdict(dict)
    for f in facts_list:
        for key, info in f["vars"].items():
            old = variables.get(key)
            if old is None or (info["defined"] and not old["defined"]):
                variables[key] = info
        for w in f["writes"]:
            writes[w["var"]].setdefault((w["path"], w["start"], w["how"]), w)
        for lz in f["lazy"]:
            lazy[lz["var"]].setdefault((lz["path"], lz["start"]), lz)
    out = []
    for key, info in sorted(variables.items()):
        if not info["defined"] or info["skip"]:
            continue
        late = [w for w in writes[key].values() if graph.runs_after_init(w["func"])
                # a table of callbacks handed by address to a registration call is read, not written
                and not (info["table"] and w["how"] == "call")]
        racy = sorted((w for w in late if w["guard"] is None and w["func"] not in graph.lock_held),
                      key=lambda w: (w["path"], w["start"]))
        if not racy:
            continue
        lz = sorted((x for x in lazy[key].values() if graph.runs_after_init(x["func"])
                     and x["func"] not in graph.lock_held), key=lambda x: (x["path"], x["start"]))
        if lz:
            code, kind = "FT302", "cache"
        elif info["array"] and (info["chars"] or any(w["how"] in _COPY_HOWS for w in racy)):
            code, kind = "FT303", "buffer"
        else:
            code = "FT301"
            if all(w["how"] in ("incdec", "compound") for w in racy):
                kind = "counter"
            elif info["pointer"]:
                kind = "cache"
            else:
                kind = "other"
        out.append({"code": code, "var": key, "info": info, "writes": racy, "lazy": lz,
                    "kind": kind, "guarded": [w for w in late if w["guard"] is not None]})
    return out


def where(info: dict) -> tuple:
    """The finding extent of a variable's declaration."""
    return (info["path"], info["start"], info["end"], info["line"], info["column"],
            info["end_line"], info["end_column"])


def describe(w: dict) -> str:
    how = {"assign": "assigned", "compound": "updated", "incdec": "incremented/decremented",
           "index": "element stored", "member": "member written", "copy": "filled by a copy/format call",
           "call": "passed by address to a function that writes it", "atomic": "atomic"}[w["how"]]
    fn = f" in {w['function']}()" if w["function"] else ""
    return f"{how}{fn}"


def sites(report: dict) -> list[Site]:
    return [Site(w["path"], w["line"], w["column"], describe(w) + " without a lock")
            for w in report["writes"]]


def finding_data(report: dict) -> dict:
    info = report["info"]
    return {
        "variable": info["name"], "key": report["var"], "kind": report["kind"],
        "scope": info["scope"], "type": info["type"],
        "decl": {k: info[k] for k in ("path", "start", "end", "line", "column")},
        "writes": [{k: w[k] for k in ("path", "start", "end", "line", "column", "function", "how")}
                   for w in report["writes"]],
        "lazy": [{k: x[k] for k in ("path", "start", "end", "line", "column", "function", "writes",
                                    "check", "shape")}
                 for x in report["lazy"]],
    }


def findings_for(rule: Any, facts_list: list[dict], message) -> list[Finding]:
    """Build the findings of one rule code from the joined facts (message(report) -> str)."""
    out = []
    for report in classify(facts_list):
        if report["code"] != rule.code:
            continue
        info = report["info"]
        at, function, related = where(info), info["owner"], sites(report)
        if report["lazy"]:  # a lazy-init race is shown at its check, the declaration comes along
            first = report["lazy"][0]
            at = tuple(first[k] for k in ("path", "start", "end", "line", "column", "end_line",
                                          "end_column"))
            function = first["function"]
            related = [Site(info["path"], info["line"], info["column"], "declared here")] + related
        out.append(rule.finding(at, info["name"], message(report), function=function,
                                related=related, data=finding_data(report)))
    return out
