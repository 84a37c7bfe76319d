"""FT106 borrowed-import-module: PyImport_AddModule / PyImport_AddModuleObject."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedImportModule(BorrowedRule):
    code = "FT106"
    name = "borrowed-import-module"
    summary = "borrowed module from PyImport_AddModule"
    explanation = ("PyImport_AddModule and PyImport_AddModuleObject return a borrowed reference "
                   "owned by sys.modules. Without the GIL another thread can remove or replace the "
                   "entry and free the module while this thread uses it.")
    action = ("Use PyImport_AddModuleRef (3.13+, pythoncapi-compat shim for older Pythons) and "
              "release the module when done; for a str name, PyImport_GetModule (3.7+) also "
              "returns a new reference.")
    doc = """
    Before:

        PyObject *main = PyImport_AddModule("__main__");
        if (main == NULL) return NULL;
        PyObject *globals = PyModule_GetDict(main);

    After:

        PyObject *main = PyImport_AddModuleRef("__main__");
        if (main == NULL) return NULL;
        PyObject *globals = PyModule_GetDict(main);
        ...
        Py_DECREF(main);
    """

    def message(self, api, container, args):
        return replace_message(api, args, "another thread can remove the module from "
                               "sys.modules and free it")
