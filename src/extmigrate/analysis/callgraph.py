"""A project-wide call graph: which functions can run after the module has been initialised.

Each TU contributes facts (`collect(tu)`): its function definitions, direct call edges, functions
whose address is taken (method tables, type slots, callbacks: Python can call those at any time) and
init roots (PyInit_*, Py_mod_exec / Py_mod_create slot functions, pthread_once-style callbacks,
and the module's m_traverse / m_clear / m_free, which run when no thread can use the module).
`CallGraph(facts_list)` joins them; `runs_after_init(key)` is true for every function reachable from
an address-taken function or from a non-static function nobody in the project calls (an unknown
entry point) in a file that includes Python.h.
Functions only reachable from init roots run during initialisation only; a static C function that
nothing calls and whose address is never taken, in a TU with entry points of its own, is dead code.

`lock_held` holds the functions only ever called (after init) with a lock held.

Static functions are keyed "path:name" (two TUs may each have their own `helper`), others by name.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from functools import lru_cache
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from clang.cindex import Cursor

from extmigrate import cursors
from extmigrate.analysis.guards import guard_at
from extmigrate.analysis.text import blanked
from extmigrate.brokenparse import broken_functions
from extmigrate.tree import CASTS, K, Node, TUView

_PASS_THROUGH = {K.UNEXPOSED_EXPR, K.PAREN_EXPR}


@lru_cache(maxsize=None)
def data(section: str) -> dict[str, Any]:
    """One table of data/static_state.toml."""
    text = resources.files("extmigrate").joinpath("data/static_state.toml").read_text()
    return tomllib.loads(text)[section]


_FUNCTION_IDS = frozenset((K.FUNCTION_DECL.value, K.CXX_METHOD.value))
_DECL_REF = K.DECL_REF_EXPR


def func_key(cur: Cursor, memo: dict | None = None, path: str | None = None) -> str:
    """'path:name' for a static function, 'name' for one with external linkage (memo: per TU).
    path: the file of the definition when the caller knows it (a definition node's own)."""
    k = cursors.decl_id(cur)
    if memo is not None and k in memo:
        return memo[k]
    key = cur.spelling
    if cursors.linkage(cur) == cursors.INTERNAL:
        if path is None:
            f = (cur.get_definition() or cur).location.file
            path = f.name if f else ""
        key = f"{path}:{cur.spelling}"
    if memo is not None:
        memo[k] = key
    return key


def _memo(tu: TUView) -> dict:
    return tu.__dict__.setdefault("_func_key_memo", {})


def node_key(tu: TUView, fn: Node | None) -> str | None:
    """The key of a function definition node (cached per node; its file is the node's own, so no
    libclang location look-up)."""
    if fn is None:
        return None
    cache = tu.__dict__.setdefault("_func_keys", {})
    k = cache.get(id(fn))
    if k is None:
        k = cache[id(fn)] = func_key(fn.cursor, _memo(tu), fn.path)
    return k


def referenced(tu: TUView, node: Node) -> Cursor | None:
    """node.cursor.referenced, computed once per node (several rules ask)."""
    cache = tu.__dict__.get("_referenced")
    if cache is None:
        cache = tu.__dict__["_referenced"] = {}
    key = id(node)
    ref = cache.get(key, cache)
    if ref is cache:
        ref = cache[key] = node.cursor.referenced
    return ref


def decl_refs(tu: TUView) -> list[tuple[Node, Cursor]]:
    """Every DECL_REF_EXPR with the declaration it refers to, in index order (once per TU: the
    call graph, the static-state and the borrowed-reference facts all go through them)."""
    out = tu.__dict__.get("_decl_refs")
    if out is None:
        out = []
        for node in tu.of_kind(_DECL_REF):
            ref = referenced(tu, node)
            if ref is not None:
                out.append((node, ref))
        tu.__dict__["_decl_refs"] = out
    return out


def climb(tu: TUView, node: Node) -> tuple[Node, Node | None]:
    """Skip implicit casts and parentheses upwards: (the outermost such node, its parent)."""
    cur = node
    while cur.parent is not None and cur.parent.kind in _PASS_THROUGH:
        cur = cur.parent
    return cur, cur.parent


def _is_callee(tu: TUView, node: Node) -> bool:
    top, parent = climb(tu, node)
    if parent is None or parent.kind != K.CALL_EXPR:
        return False
    kids = tu.children_of(parent)
    return bool(kids) and kids[0] is top


def _lifecycle_entry(tu: TUView, node: Node) -> bool:
    """Is the reference a {Py_mod_exec, f} slot entry, or m_traverse/m_clear/m_free of a PyModuleDef?"""
    slots = data("callgraph")["init_slots"]
    for anc in node.ancestors():
        if anc.kind == K.INIT_LIST_EXPR:
            text = tu.node_text(anc).lstrip("{ \t\r\n")
            if any(re.match(rf"{s}\b", text) for s in slots):
                return True
        if anc.kind == K.VAR_DECL:
            return _lifecycle_type(anc)
        if anc.kind == K.FUNCTION_DECL:
            return False
    return False


def _lifecycle_type(var: Node) -> bool:
    spelling = re.sub(r"^(const\s+)?(struct\s+)?", "", var.cursor.type.spelling)
    return spelling in data("callgraph")["teardown_types"]


def uses_python(tu: TUView) -> bool:
    """Does the TU include Python.h (its precompiled prelude or the parse itself)?"""
    pch = getattr(tu.tu, "pch_files", ())
    return any(os.path.basename(name) == "Python.h" for name in pch) or \
        cursors.includes_named(tu.tu, "Python.h")


def _declaration_text(tu: TUView, var: Node) -> str:
    """The declaration up to its `;`: clang ends a declaration whose initializer had errors early."""
    text = blanked(tu, var.path)
    depth, i = 0, var.start
    while i < len(text):
        ch = text[i]
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif ch == ";" and depth <= 0:
            break
        i += 1
    return text[var.start:i]


def _text_refs(tu: TUView, defs: dict[str, str], edges: set, taken: set[str], init: set[str]) -> None:
    """Functions named in a file-scope initializer clang dropped (it had an error: a missing header,
    a generated docstring macro): find them in the initializer's text instead."""
    called = {e[1] for e in edges}
    lonely = {k.rsplit(":", 1)[-1]: k for k in defs if k not in called and k not in taken
              and k not in init}
    if not lonely:
        return
    slots = data("callgraph")["init_slots"]
    for var in tu.of_kind(K.VAR_DECL):
        if var.func is not None or var.parent is not None or tu.children_of(var)[-1:] and \
                tu.children_of(var)[-1].kind == K.INIT_LIST_EXPR:
            continue  # a parsed initializer was already seen as an AST
        text = _declaration_text(tu, var)
        if "=" not in text:
            continue
        teardown = _lifecycle_type(var)
        for name in re.findall(r"\b[A-Za-z_]\w*\b", text.split("=", 1)[1]):
            key = lonely.get(name)
            if key is None:
                continue
            in_slot = any(re.search(rf"{s}\s*,\s*(\([^)]*\)\s*)?{name}\b", text) for s in slots)
            (init if teardown or in_slot else taken).add(key)


def collect(tu: TUView) -> dict[str, Any]:
    """Call-graph facts of one TU (computed once per TU, JSON-able)."""
    cached = tu.__dict__.get("_callgraph_facts")
    if cached is not None:
        return cached
    cfg = data("callgraph")
    defs: dict[str, str] = {}
    init: set[str] = set()
    for fn in tu.functions:
        key = node_key(tu, fn)
        defs[key] = fn.path
        if fn.spelling.startswith(tuple(cfg["init_prefixes"])):
            init.add(key)
    edges: set[tuple[str, str]] = set()
    unlocked: set[tuple[str, str]] = set()  # edges with a call outside any lock region
    for calls in tu.uses.values():
        for use in calls:
            if use.node is None or use.func is None:
                continue
            ref = use.node.cursor.referenced
            if ref is not None and ref._kind_id in _FUNCTION_IDS:
                edge = (node_key(tu, use.func), func_key(ref, _memo(tu)))
                edges.add(edge)
                if edge not in unlocked and guard_at(tu, use.func, use.start) is None:
                    unlocked.add(edge)
    taken: set[str] = set()
    once_calls = set(cfg["once_calls"])
    for ref_node, ref in decl_refs(tu):
        if ref._kind_id not in _FUNCTION_IDS:
            continue
        if _is_callee(tu, ref_node):
            continue
        key = func_key(ref, _memo(tu))
        _, parent = climb(tu, ref_node)
        while parent is not None and parent.kind in CASTS:
            _, parent = climb(tu, parent)
        if parent is not None and parent.kind == K.CALL_EXPR and parent.spelling in once_calls:
            init.add(key)
        elif _lifecycle_entry(tu, ref_node):
            init.add(key)
        else:
            taken.add(key)
    _text_refs(tu, defs, edges, taken, init)
    # static C functions (no virtual calls), in a TU with entry points of its own (a method table, a
    # slot, PyInit_*): a file with none may be a fragment whose callers are out of sight, and so may a
    # body that did not parse (its calls are not in the AST)
    internal = {node_key(tu, fn) for fn in tu.functions
                if fn.kind == K.FUNCTION_DECL and cursors.linkage(fn.cursor) == cursors.INTERNAL} \
        if (taken or init) and not broken_functions(tu.tu, tu) else set()
    facts = {"defs": defs, "edges": sorted([a, b, (a, b) not in unlocked] for a, b in edges),
             "taken": sorted(taken), "init": sorted(init), "internal": sorted(internal),
             "python": uses_python(tu)}
    tu.__dict__["_callgraph_facts"] = facts
    return facts


class CallGraph:
    """The project's functions joined over all TUs."""

    def __init__(self, facts_list: list[dict[str, Any]]):
        self.defs: dict[str, str] = {}
        self.callees: dict[str, set[str]] = defaultdict(set)
        self.callers: dict[str, set[str]] = defaultdict(set)
        self.taken: set[str] = set()
        self.init: set[str] = set()
        self.internal: set[str] = set()  # static C functions: nothing outside their file can call them
        self.python_defs: set[str] = set()  # defined in a TU that includes Python.h
        self.unlocked_calls: set[tuple[str, str]] = set()
        for f in facts_list:
            self.defs.update(f["defs"])
            if f["python"]:
                self.python_defs.update(f["defs"])
            for a, b, locked in f["edges"]:
                if a != b:
                    self.callees[a].add(b)
                    self.callers[b].add(a)
                    if not locked:
                        self.unlocked_calls.add((a, b))
            self.taken.update(f["taken"])
            self.init.update(f["init"])
            self.internal.update(f.get("internal", ()))
        roots = self.roots()
        self.after_init = self._reach(roots)
        self.lock_held = self._lock_held(roots)

    def roots(self) -> set[str]:
        """Where code can start after init: address-taken functions and uncalled ones (in a TU that
        includes Python.h: an uncalled function of plain C/C++ code, a bundled library or its tests,
        runs only when the extension calls it). A static function nothing calls nor takes the address
        of is dead code: no thread runs it."""
        uncalled = {k for k in self.python_defs if not self.callers.get(k) and k not in self.init
                    and (k not in self.internal or k.rsplit(":", 1)[-1] in self.taken)}
        return (self.taken - self.init) | uncalled

    def _reach(self, roots: set[str]) -> set[str]:
        seen = set(roots)
        stack = list(roots)
        while stack:
            for callee in self.callees.get(stack.pop(), ()):
                if callee not in seen and callee not in self.init:
                    seen.add(callee)
                    stack.append(callee)
        return seen

    def _lock_held(self, roots: set[str]) -> set[str]:
        """Functions every caller of which (after init) calls with a lock held, or is such a function
        itself: `/* must be called with the lock held */` helpers."""
        held = {k for k in self.after_init - roots if self.callers.get(k)}
        changed = True
        while changed:
            changed = False
            for k in list(held):
                for c in self.callers[k]:
                    if c in self.after_init and (c, k) in self.unlocked_calls and c not in held:
                        held.discard(k)
                        changed = True
                        break
        return held

    def runs_after_init(self, key: str | None) -> bool:
        """Unknown functions count as running after init (the safe answer)."""
        if key is None:
            return True
        if key in self.after_init:
            return True
        return key not in self.defs and key not in self.init


def hits_after_init(facts: list, unless_held: bool = False) -> list[dict]:
    """The finding dicts (`hits`, each with data.function_key) of facts shaped {"calls": collect(tu),
    "hits": [...]} whose function can run after module initialisation (and, with unless_held, is not
    a helper every caller calls with a lock or critical section held)."""
    graph = CallGraph([f["calls"] for f in facts])
    return [d for f in facts for d in f["hits"] if graph.runs_after_init(d["data"]["function_key"])
            and not (unless_held and d["data"]["function_key"] in graph.lock_held)]
