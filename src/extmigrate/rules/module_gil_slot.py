"""FT201 module-gil-slot: a multi-phase module whose slot array has no Py_mod_gil entry."""

from __future__ import annotations

import re

from clang.cindex import LinkageKind, TypeKind

from extmigrate.analysis.text import blanked
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.module_gil_common import API, decl_span, gil_macros, word
from extmigrate.tree import K, Node, TUView

_PY_MOD_GIL = word(API["slot"])
_M_SLOTS = re.compile(r"m_slots\s*=\s*[^;,}]*")
_ARRAYS = (TypeKind.CONSTANTARRAY, TypeKind.INCOMPLETEARRAY)


@register
class ModuleGilSlot(Rule):
    code = "FT201"
    name = "module-gil-slot"
    category = "module-gil"
    severity = "warning"
    summary = "multi-phase module does not declare Py_mod_gil"
    explanation = ("A free-threaded interpreter re-enables the GIL when it imports a module that does "
                   "not declare Py_MOD_GIL_NOT_USED, so the whole process loses free threading.")
    action = ("Once the module's code is thread-safe, add {Py_mod_gil, Py_MOD_GIL_NOT_USED} to the "
              "PyModuleDef_Slot array (guarded by #ifdef Py_mod_gil for Pythons before 3.13).")
    doc = """
    Checks every `PyModuleDef_Slot` array that a `PyModuleDef` of the project uses as `m_slots`
    (in the same file, or, for an array with external linkage, in another scanned file). An entry for
    `Py_mod_gil` in any preprocessor branch counts, so `#ifdef Py_GIL_DISABLED` guarded declarations
    are recognised, and so does a project macro whose definition holds the entry. Reported at the array's name.

    Before:

        static PyModuleDef_Slot slots[] = {
            {Py_mod_exec, mod_exec},
            {0, NULL},
        };

    After:

        static PyModuleDef_Slot slots[] = {
            {Py_mod_exec, mod_exec},
        #ifdef Py_mod_gil
            {Py_mod_gil, Py_MOD_GIL_NOT_USED},
        #endif
            {0, NULL},
        };
    """

    def check(self, tu: TUView) -> list[Finding]:
        found, self._unbound = [], []
        defs = module_def_texts(tu)
        macros = [word(m) for m in gil_macros(tu, (API["slot"],))]
        for var in slot_arrays(tu):
            text = blanked(tu, var.path)
            if any(p.search(text, *decl_span(tu, var)) for p in [_PY_MOD_GIL] + macros):
                continue
            name = var.spelling
            if any(word(name).search(t) for t in defs):
                found.append(self._at_name(tu, var))
            elif var.cursor.linkage == LinkageKind.EXTERNAL:  # its PyModuleDef may be in another TU
                self._unbound.append({"name": name, "finding": self._at_name(tu, var).to_dict()})
        return found

    def collect(self, tu: TUView) -> dict:
        return {"unbound": getattr(self, "_unbound", []), "defs": module_def_texts(tu)}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        defs = [t for f in facts for t in f["defs"]]
        return [Finding.from_dict(u["finding"]) for f in facts for u in f["unbound"]
                if any(word(u["name"]).search(t) for t in defs)]

    def _at_name(self, tu: TUView, var: Node) -> Finding:
        """Reported at the variable's name; data start/end keep the whole declaration (for the fix)."""
        path = var.path
        start, end = decl_span(tu, var)
        loc = var.cursor.location
        name = var.spelling
        where = (path, loc.offset, loc.offset + len(name), loc.line, loc.column, loc.line,
                 loc.column + len(name))
        return self.finding(
            where, name,
            f"module slot array '{name}' has no Py_mod_gil entry: importing the module "
            "re-enables the GIL on free-threaded Python",
            function=None, data={"slots": name, "start": start, "end": end})


def slot_arrays(tu: TUView) -> list[Node]:
    """File-scope array definitions of PyModuleDef_Slot in the project's files."""
    out = []
    for var in tu.of_kind(K.VAR_DECL):
        if var.func is not None or "PyModuleDef_Slot" not in _head(tu, var):
            continue
        t = var.cursor.type
        if t.kind not in _ARRAYS or not var.cursor.is_definition():
            continue
        if t.element_type.get_canonical().spelling.replace("struct ", "") == "PyModuleDef_Slot":
            out.append(var)
    return out


def _head(tu: TUView, var: Node) -> str:
    """The declaration's text before the variable's name (its type, possibly through a typedef)."""
    return tu.text(var.path, var.start, var.cursor.location.offset)


def module_def_texts(tu: TUView) -> list[str]:
    """Texts that can name a slot array: PyModuleDef definitions and `x.m_slots = ...` assignments."""
    cache = tu.__dict__.setdefault("_module_def_texts", [])
    if cache:
        return cache[0]
    out: list[str] = []
    cache.append(out)
    for var in tu.of_kind(K.VAR_DECL):
        if var.func is None and "PyModuleDef" in _head(tu, var) and var.cursor.is_definition() \
                and var.cursor.type.get_canonical().spelling.replace("struct ", "") == "PyModuleDef":
            start, end = decl_span(tu, var)
            out.append(blanked(tu, var.path)[start:end])
    for path in tu.files:
        out += [m.group(0) for m in _M_SLOTS.finditer(blanked(tu, path))]
    return out
