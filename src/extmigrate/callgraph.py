"""A project-wide call graph: which functions can run after the module has been initialised.

Each TU contributes facts (`collect(tu)`): its function definitions, direct call edges, functions
whose address is taken (method tables, type slots, callbacks: Python can call those at any time) and
init roots (PyInit_*, Py_mod_exec / Py_mod_create slot functions, pthread_once-style callbacks).
`CallGraph(facts_list)` joins them; `runs_after_init(key)` is true for every function reachable from
an address-taken function or from a function nobody in the project calls (an unknown entry point).
Functions only reachable from init roots run during initialisation only.

Static functions are keyed "path:name" (two TUs may each have their own `helper`), others by name.
"""

from __future__ import annotations

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

from clang.cindex import Cursor, LinkageKind

from extmigrate.tree import K, Node, TUView

_PASS_THROUGH = {K.UNEXPOSED_EXPR, K.PAREN_EXPR}


@lru_cache(maxsize=None)
def data(section: str) -> dict[str, Any]:
    """One table of data/static_state.toml."""
    text = resources.files("extmigrate").joinpath("data/static_state.toml").read_text()
    return tomllib.loads(text)[section]


def func_key(cur: Cursor) -> str:
    """'path:name' for a static function, 'name' for one with external linkage."""
    if cur.linkage == LinkageKind.INTERNAL:
        d = cur.get_definition() or cur
        f = d.location.file
        return f"{f.name if f else ''}:{cur.spelling}"
    return cur.spelling


def node_key(tu: TUView, fn: Node | None) -> str | None:
    """The key of a function definition node (cached on the node's cursor)."""
    if fn is None:
        return None
    cache = tu.__dict__.setdefault("_func_keys", {})
    k = cache.get(id(fn))
    if k is None:
        k = cache[id(fn)] = func_key(fn.cursor)
    return k


def referenced(tu: TUView, node: Node) -> Cursor | None:
    """node.cursor.referenced, computed once per node (several rules ask)."""
    cache = tu.__dict__.setdefault("_referenced", {})
    key = id(node)
    if key not in cache:
        cache[key] = node.cursor.referenced
    return cache[key]


def _climb(tu: TUView, node: Node) -> tuple[Node, Node | None]:
    """Skip implicit casts and parentheses upwards: (the outermost such node, its parent)."""
    cur = node
    while cur.parent is not None and cur.parent.kind in _PASS_THROUGH:
        cur = cur.parent
    return cur, cur.parent


def _is_callee(tu: TUView, node: Node) -> bool:
    top, parent = _climb(tu, node)
    if parent is None or parent.kind != K.CALL_EXPR:
        return False
    kids = tu.children_of(parent)
    return bool(kids) and kids[0] is top


def _init_slot_entry(tu: TUView, node: Node) -> bool:
    """Is the reference the function of a {Py_mod_exec, f} slot entry?"""
    slots = data("callgraph")["init_slots"]
    for anc in node.ancestors():
        if anc.kind == K.INIT_LIST_EXPR:
            text = tu.node_text(anc).lstrip("{ \t\r\n")
            return any(re.match(rf"{s}\b", text) for s in slots)
        if anc.kind in (K.FUNCTION_DECL, K.VAR_DECL):
            return False
    return False


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
    for calls in tu.uses.values():
        for use in calls:
            if use.node is None or use.func is None:
                continue
            ref = use.node.cursor.referenced
            if ref is not None and ref.kind in (K.FUNCTION_DECL, K.CXX_METHOD):
                edges.add((node_key(tu, use.func), func_key(ref)))
    taken: set[str] = set()
    once_calls = set(cfg["once_calls"])
    for ref_node in tu.of_kind(K.DECL_REF_EXPR):
        ref = referenced(tu, ref_node)
        if ref is None or ref.kind not in (K.FUNCTION_DECL, K.CXX_METHOD):
            continue
        if _is_callee(tu, ref_node):
            continue
        key = func_key(ref)
        _, parent = _climb(tu, ref_node)
        while parent is not None and parent.kind == K.CSTYLE_CAST_EXPR:
            _, parent = _climb(tu, parent)
        if parent is not None and parent.kind == K.CALL_EXPR and parent.spelling in once_calls:
            init.add(key)
        elif _init_slot_entry(tu, ref_node):
            init.add(key)
        else:
            taken.add(key)
    facts = {"defs": defs, "edges": sorted(edges), "taken": sorted(taken), "init": sorted(init)}
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
        for f in facts_list:
            self.defs.update(f["defs"])
            for a, b in f["edges"]:
                if a != b:
                    self.callees[a].add(b)
                    self.callers[b].add(a)
            self.taken.update(f["taken"])
            self.init.update(f["init"])
        self.after_init = self._reach(self.roots())

    def roots(self) -> set[str]:
        """Where code can start after init: address-taken functions and uncalled ones."""
        uncalled = {k for k in self.defs if not self.callers.get(k) and k not in self.init}
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

    def runs_after_init(self, key: str | None) -> bool:
        """Unknown functions count as running after init (the safe answer)."""
        if key is None:
            return True
        if key in self.after_init:
            return True
        return key not in self.defs and key not in self.init
