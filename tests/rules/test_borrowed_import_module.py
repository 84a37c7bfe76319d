"""FT106 borrowed-import-module on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

CODE = """
#include <Python.h>

static PyObject *globals_of_main(PyObject *self, PyObject *unused) {
    PyObject *main = PyImport_AddModule("__main__");
    if (main == NULL) return NULL;
    return Py_NewRef(PyModule_GetDict(main));
}

static PyObject *add_by_name(PyObject *self, PyObject *name) {
    return Py_XNewRef(PyImport_AddModuleObject(name));
}

#if PY_VERSION_HEX < 0x030D0000
static PyObject *PyImport_AddModuleRef(const char *name) {
    return Py_XNewRef(PyImport_AddModule(name));
}
#endif

static int exists(PyObject *self) {
    return PyImport_AddModule("m") != NULL;
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_module_borrowers_outside_compat_shims(scan_c, python):
    res = scan_c(CODE, select=["FT106"], headers=python).findings
    assert [(f.function, f.symbol) for f in res] == [
        ("globals_of_main", 'PyImport_AddModule("__main__")'),
        ("add_by_name", "PyImport_AddModuleObject(name)"),
    ]
    assert "PyImport_AddModuleRef (3.13+" in res[0].message and "sys.modules" in res[0].message
    assert res[0].data["result_var"] == "main" and res[0].data["args"] == ['"__main__"']
