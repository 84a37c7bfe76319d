"""FT202 module-gil-single-phase on real C files, with every discovered Python's headers."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

HEAD = """
#include <Python.h>
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, NULL};
"""


def _at(path, span):
    return open(path, "rb").read()[span[0]:span[1]].decode()


@pytest.mark.parametrize("python", PYTHONS)
def test_direct_creation_records_creation_and_null_check(scan_c, python):
    res = scan_c(HEAD + """
PyMODINIT_FUNC
PyInit_m(void)
{
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "x", 1) < 0)
        return NULL;
    return m;
}
""", select=["FT202"], headers=python)
    [f] = res.findings
    assert (f.symbol, f.function, f.line) == ("PyInit_m", "PyInit_m", 8)
    assert f.data["module_var"] == "m" and not f.data["returns_directly"]
    assert _at(f.path, f.data["create_stmt"]) == "PyObject *m = PyModule_Create(&moddef);"
    assert _at(f.path, f.data["null_check"]).startswith("if (m == NULL) {")
    assert _at(f.path, f.data["null_check"]).endswith("}")
    assert f.data["insert_after"] == f.data["null_check"][1]


def test_commented_out_set_gil_does_not_count(scan_c):
    res = scan_c(HEAD + """
PyMODINIT_FUNC PyInit_m(void) {
    PyObject *m;
    if ((m = PyModule_Create(&moddef)) == NULL)
        return NULL;
    /* PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED); */
    return m;
}
""", select=["FT202"])
    [f] = res.findings
    assert f.data["module_var"] == "m"
    # the creation is its own NULL check
    assert f.data["null_check"] == f.data["create_stmt"]
    assert _at(f.path, f.data["create_stmt"]).endswith("return NULL;")


def test_helper_creates_the_module(scan_c):
    res = scan_c(HEAD + """
static PyObject *make_module(void) {
    PyObject *mod;
    mod = PyModule_Create2(&moddef, PYTHON_API_VERSION);
    if (!mod)
        return NULL;
    return mod;
}
PyMODINIT_FUNC PyInit_m(void) { return make_module(); }
""", select=["FT202"])
    [f] = res.findings
    assert (f.symbol, f.function, f.data["module_var"]) == ("PyInit_m", "make_module", "mod")
    assert _at(f.path, f.data["null_check"]) == "if (!mod)\n        return NULL;"


def test_return_of_create_and_multi_phase(scan_c):
    res = scan_c(HEAD + """
static PyModuleDef_Slot slots[] = {{0, NULL}};
static struct PyModuleDef multi = {PyModuleDef_HEAD_INIT, "multi", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_multi(void) { return PyModuleDef_Init(&multi); }
PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&moddef); }
static PyObject *not_an_init(void) { return PyModule_Create(&moddef); }
""", select=["FT202"])
    [f] = res.findings
    assert f.symbol == "PyInit_m"
    assert f.data["returns_directly"] and f.data["module_var"] is None and f.data["insert_after"] is None
