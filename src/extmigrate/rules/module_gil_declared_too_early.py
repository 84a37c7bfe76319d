"""FT205 module-gil-declared-too-early: Py_MOD_GIL_NOT_USED declared while the module still races."""

from __future__ import annotations

import os
import re
from collections import Counter

from extmigrate import cursors
from extmigrate.analysis import callgraph
from extmigrate.analysis.text import blanked
from extmigrate.benign import benign
from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.module_gil_common import (API, NB, PB, PB_NOT_USED, SOURCE_DEFINE, decl_span, extent,
                                                gil_macros, macro_calls, nanobind_verdict)
from extmigrate.suppress import apply_suppressions
from extmigrate.tree import K, TUView

MAX_RELATED = 50


@register
class ModuleGilDeclaredTooEarly(Rule):
    code = "FT205"
    name = "module-gil-declared-too-early"
    category = "module-gil"
    severity = "warning"
    runs_last = True
    summary = "module declares Py_MOD_GIL_NOT_USED while its code still has free-threading hazards"
    explanation = ("Declaring Py_MOD_GIL_NOT_USED tells a free-threaded interpreter to keep the GIL off "
                   "while the module runs. The hazards this scan still finds in the module's sources then "
                   "become real data races and crashes instead of staying serialised by the GIL.")
    action = ("Fix the listed findings first, or keep the GIL (drop the declaration, or use "
              "Py_MOD_GIL_USED) until they are fixed.")
    doc = """
    A module's sources are the files of the translation unit that declares it, the headers they
    include and, transitively, the translation units defining the external functions they call and
    the external variables they use (a type object defined in another file).
    Findings of the other categories (borrowed-ref, static-state, allocator, other) in those files
    block the declaration; inline-suppressed findings do not. Reported once at the declaration, with
    the blocking findings as related locations.

    Before (declared, but the cache below is still a race):

        static PyObject *cache;
        static PyObject *get(PyObject *self, PyObject *arg) {
            Py_XSETREF(cache, Py_NewRef(arg));
            ...
        }
        static PyModuleDef_Slot slots[] = {
            {Py_mod_gil, Py_MOD_GIL_NOT_USED},
            {0, NULL},
        };

    After (the race fixed first; then the declaration is true):

        static PyObject *cache;
        static PyMutex cache_lock;
        static PyObject *get(PyObject *self, PyObject *arg) {
            PyMutex_Lock(&cache_lock);
            Py_XSETREF(cache, Py_NewRef(arg));
            PyMutex_Unlock(&cache_lock);
            ...
        }
        static PyModuleDef_Slot slots[] = {
            {Py_mod_gil, Py_MOD_GIL_NOT_USED},
            {0, NULL},
        };
    """

    def collect(self, tu: TUView) -> dict:
        defined = {f.spelling for f in tu.functions}
        external = {f.spelling for f in tu.functions if cursors.linkage(f.cursor) == cursors.EXTERNAL}
        calls = {name for name, uses in tu.uses.items()
                 if name not in defined and any(_calls_function(u) for u in uses)}
        # Variables link files too: a module adds a type object another file defines.
        for var in tu.of_kind(K.VAR_DECL):
            if var.func is None and cursors.linkage(var.cursor) == cursors.EXTERNAL and \
                    var.cursor.is_definition():
                external.add(var.spelling)
        for _node, ref in callgraph.decl_refs(tu):
            if ref.kind == K.VAR_DECL and cursors.linkage(ref) == cursors.EXTERNAL and \
                    ref.get_definition() is None:
                calls.add(ref.spelling)
        return {"decls": declarations(tu), "files": sorted(tu.files), "defines": sorted(external),
                "calls": sorted(calls)}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        decls = {}
        for i, fact in enumerate(facts):
            for d in filter(_declared, fact["decls"]):
                decls.setdefault((d["path"], d["start"]), (d, set()))[1].add(i)
        if not decls:
            return []
        definers: dict[str, set[int]] = {}
        for i, fact in enumerate(facts):
            for name in fact["defines"]:
                definers.setdefault(name, set()).add(i)
        hazards = [f for f in findings if f.category != self.category and f.severity != "note"]
        hazards, _ = apply_suppressions(hazards)
        # several modules of one file blocked by the same hazards: one finding, the others related
        groups: dict[tuple, tuple[list[Finding], list[dict]]] = {}
        for d, tus in sorted(decls.values(), key=lambda v: (v[0]["path"], v[0]["start"])):
            files = {os.path.realpath(p) for i in module_tus(tus, facts, definers) for p in facts[i]["files"]}
            blocking = [f for f in hazards if os.path.realpath(f.path) in files
                        and not benign(f, os.path.dirname(os.path.abspath(d["path"])))]
            if blocking:
                key = (d["path"], tuple(id(f) for f in blocking))
                groups.setdefault(key, (blocking, []))[1].append(d)
        return [self._report(ds[0], blocking, ds[1:]) for blocking, ds in groups.values()]

    def _report(self, d: dict, blocking: list[Finding], also: list[dict]) -> Finding:
        counts = Counter(f.code for f in blocking)
        listed = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items()))
        related = [Site(f.path, f.line, f.column, f"{f.code} {f.name}: {f.message}")
                   for f in sorted(blocking, key=lambda f: f.sort_key)[:MAX_RELATED]]
        related += [Site(o["path"], o["line"], o["column"], f"{o['what']} declares it here too")
                    for o in also]
        where = (d["path"], d["start"], d["end"], d["line"], d["column"], d["end_line"], d["end_column"])
        return self.finding(
            where, d["symbol"],
            f"{d['what']} declares the module free-threading compatible, but {len(blocking)} "
            f"free-threading hazard(s) remain in its sources ({listed})",
            function=d["function"], related=related,
            data={"declaration": d["kind"], "blocking": [f"{f.code}:{f.path}:{f.line}" for f in blocking]})


def _calls_function(use) -> bool:
    """A call of a function by its name: not `c->free_privdata(p)` through a function-pointer field,
    which links to no file (a test program defining a function of that name is not the module)."""
    if use.node is None:
        return False
    ref = use.node.cursor.referenced
    return ref is None or ref.kind not in (K.FIELD_DECL, K.PARM_DECL, K.VAR_DECL)


def module_tus(start: set[int], facts: list, definers: dict[str, set[int]]) -> set[int]:
    """The TUs a declaring TU links with: follow calls to external functions and uses of external
    variables defined elsewhere."""
    seen, todo = set(start), list(start)
    while todo:
        i = todo.pop()
        for name in facts[i]["calls"]:
            for j in definers.get(name, ()):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
    return seen


def _decl(tu: TUView, path: str, start: int, end: int, kind: str, what: str, symbol: str) -> dict:
    ext = extent(path, blanked(tu, path), start, end)
    fn = tu.function_at(path, start)
    return {"path": path, "start": start, "end": end, "line": ext[3], "column": ext[4],
            "end_line": ext[5], "end_column": ext[6], "kind": kind, "what": what, "symbol": symbol,
            "function": fn.spelling if fn is not None else None}


def _enclosing_var(tu: TUView, file_vars: list, offset: int):
    """The file-scope variable whose definition (initializer included) holds the offset."""
    before = [v for v in file_vars if v.start <= offset]
    if before:
        start, end = decl_span(tu, before[-1])
        if start <= offset < end:
            return before[-1]
    return None


def declarations(tu: TUView) -> list[dict]:
    """Every place the TU's project files declare Py_MOD_GIL_NOT_USED (slot, SetGIL, binding tags)."""
    out = []
    file_vars = sorted((v for v in tu.of_kind(K.VAR_DECL) if v.func is None), key=lambda v: v.start)
    names = [API["not_used"]] + sorted(gil_macros(tu, (API["not_used"],)))
    declared = re.compile("|".join(rf"\b{n}\b" for n in names))
    for path in sorted(tu.files):
        text = blanked(tu, path)
        if not any(n in text for n in names):
            continue  # most files: a substring test is much cheaper than the word regex
        for m in declared.finditer(text):
            if re.search(r"#\s*define\s+\w*\s*$", text[max(0, m.start() - 80):m.start()]):
                continue  # a macro defining the constant itself (a compat header)
            var = _enclosing_var(tu, [v for v in file_vars if v.path == path], m.start())
            fn = tu.function_at(path, m.start())
            if var is not None:
                out.append(_decl(tu, path, m.start(), m.end(), "slot", f"slot array '{var.spelling}'",
                                 var.spelling))
            elif fn is not None:
                out.append(_decl(tu, path, m.start(), m.end(), "set-gil", f"'{fn.spelling}'", fn.spelling))
    for call in macro_calls(tu, PB["module_macros"]):
        if PB_NOT_USED.search(" ".join(call.args[2:])):
            module = call.args[0] if call.args else "?"
            out.append(_decl(tu, call.path, call.start, call.start + len(call.name), "pybind11",
                             f"pybind11 module '{module}'", module))
    for call in macro_calls(tu, NB["module_macros"]):  # declared or not: the build files say, in finish()
        module = call.args[0] if call.args else "?"
        d = _decl(tu, call.path, call.start, call.start + len(call.name), "nanobind",
                  f"nanobind module '{module}' (built FREE_THREADED)", module)
        d["defined_in_source"] = bool(SOURCE_DEFINE.search(blanked(tu, call.path)))
        out.append(d)
    return out


def _declared(d: dict) -> bool:
    """Slots, SetGIL and pybind11 tags are declarations; a nanobind module is one when built so."""
    if d["kind"] != "nanobind" or d["defined_in_source"]:
        return True
    return nanobind_verdict(d["path"], d["symbol"])[0]
