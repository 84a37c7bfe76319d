"""FT516 dict-check-then-act on real C through a real scan (more: tests/fixtures/dict_check_then_act/)."""

from __future__ import annotations

REGISTRY = """
#include <Python.h>
static PyObject *registry;
static PyObject *register_codec(PyObject *mod, PyObject *args) {
    const char *name;
    PyObject *codec;
    if (!PyArg_ParseTuple(args, "sO", &name, &codec)) return NULL;
    if (PyDict_GetItemString(registry, name) != NULL) {
        PyErr_SetString(PyExc_KeyError, name);
        return NULL;
    }
    if (PyDict_SetItemString(registry, name, codec) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *forget_codec(PyObject *mod, PyObject *name) {
    if (PyMapping_HasKey(registry, name))
        return PyObject_DelItem(registry, name) < 0 ? NULL : Py_NewRef(Py_True);
    Py_RETURN_FALSE;
}
static PyMethodDef methods[] = {
    {"register", register_codec, METH_VARARGS, NULL},
    {"forget", forget_codec, METH_O, NULL},
    {NULL}
};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) {
    registry = PyDict_New();
    return registry ? PyModule_Create(&def) : NULL;
}
"""


def test_string_keys_and_mapping_calls(scan_c):
    res = scan_c(REGISTRY, select=["FT516"])
    got = [(f.function, f.line, f.symbol, [s.line for s in f.related]) for f in res.findings]
    assert got == [("register_codec", 8, "registry", [12]), ("forget_codec", 16, "registry", [17])]
    assert "PyDict_SetItemString(registry, name, ...)" in res.findings[0].message
    assert "PyObject_DelItem(registry, name) on the shared dict" in res.findings[1].message


def test_only_module_initialisation_is_not_reported(scan_c):
    code = REGISTRY.replace("{\"register\", register_codec, METH_VARARGS, NULL},", "").replace(
        "registry = PyDict_New();",
        "registry = PyDict_New(); if (registry) register_codec(NULL, NULL);")
    res = scan_c(code, select=["FT516"])
    assert [f.function for f in res.findings] == ["forget_codec"]
