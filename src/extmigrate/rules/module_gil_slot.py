"""FT201 module-gil-slot: a multi-phase module whose slot array has no Py_mod_gil entry."""

from __future__ import annotations

import re

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import K, TUView

_PY_MOD_GIL = re.compile(r"\bPy_mod_gil\b")


@register
class ModuleGilSlot(Rule):
    code = "FT201"
    name = "module-gil-slot"
    category = "module-gil"
    severity = "warning"
    fixable = True
    summary = "multi-phase module does not declare Py_mod_gil"
    explanation = ("A free-threaded interpreter re-enables the GIL when it imports a module that does "
                   "not declare Py_MOD_GIL_NOT_USED, so the whole process loses free threading.")
    action = ("Once the module's code is thread-safe, add {Py_mod_gil, Py_MOD_GIL_NOT_USED} to the "
              "PyModuleDef_Slot array (guarded by #ifdef Py_mod_gil for Pythons before 3.13).")
    doc = """
    Checks every `PyModuleDef_Slot` array. An entry for `Py_mod_gil` in any preprocessor branch
    counts, so `#ifdef Py_GIL_DISABLED` guarded declarations are recognised.

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
        out = []
        for var in tu.of_kind(K.VAR_DECL):
            if var.func is not None or "PyModuleDef_Slot" not in var.cursor.type.spelling:
                continue
            if not var.cursor.is_definition():
                continue
            if _PY_MOD_GIL.search(tu.node_text(var)):
                continue
            out.append(self.finding(
                var, var.spelling,
                f"module slot array '{var.spelling}' has no Py_mod_gil entry: importing the module "
                "re-enables the GIL on free-threaded Python",
                data={"slots": var.spelling}))
        return out
