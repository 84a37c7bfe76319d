"""FT302 lazy-init-race on real C through a real scan."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

TAIL = """
static PyMethodDef methods[] = {{"get", (PyCFunction)get, METH_O, NULL}, {NULL}};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&moddef); }
"""

INTERNED = """
#include <Python.h>
static PyObject *str_name = NULL;
static PyObject *get(PyObject *self, PyObject *obj) {
    if (str_name == NULL) {
        str_name = PyUnicode_InternFromString("name");
        if (str_name == NULL) return NULL;
    }
    return PyObject_GetAttr(obj, str_name);
}
""" + TAIL


def lazy(res):
    return [(f.symbol, f.line, f.function) for f in res.findings if f.code == "FT302"]


@pytest.mark.parametrize("python", PYTHONS)
def test_interned_string_cache(scan_c, tmp_path, python):
    res = scan_c(INTERNED, select=["FT3"], headers=python)
    assert [(f.code, f.symbol) for f in res.findings] == [("FT302", "str_name")]  # not FT301 too
    f = res.findings[0]
    assert (f.line, f.function) == (5, "get")
    assert "both see it unset" in f.message and "module" in f.action
    assert f.related[0].note == "declared here" and f.related[0].line == 3
    src = (tmp_path / "mod.c").read_text()
    assert f.data["kind"] == "cache" and f.data["variable"] == "str_name"
    assert src[f.data["lazy"][0]["start"]:].startswith("if (str_name == NULL)")
    assert [src[o:o + 8] for o in f.data["lazy"][0]["writes"]] == ["str_name"]


SHAPES = {
    "not": "if (!mod) { PyObject *m = PyImport_ImportModule(\"json\"); mod = m; }",
    "null_first": "if (NULL == mod) mod = PyImport_ImportModule(\"json\");",
    "early_return": "if (mod != NULL) return Py_NewRef(mod);\n    mod = PyImport_ImportModule(\"json\");",
    "unlikely": "if (Py_UNLIKELY(mod == NULL)) mod = PyImport_ImportModule(\"json\");",
    "conjunction": "if (o != Py_None && !mod) mod = PyImport_ImportModule(\"json\");",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shapes(scan_c, shape):
    code = ("#include <Python.h>\n#ifndef Py_UNLIKELY\n#define Py_UNLIKELY(x) (x)\n#endif\n"
            "static PyObject *mod;\nstatic PyObject *get(PyObject *self, PyObject *o) {\n    "
            + SHAPES[shape] + "\n    return Py_XNewRef(mod);\n}\n" + TAIL)
    assert lazy(scan_c(code, select=["FT3"])) == [("mod", 7, "get")]


def test_flag_shaped_lazy_init(scan_c):
    code = """
    #include <Python.h>
    static int ready;
    static void load_tables(void) {}
    static PyObject *get(PyObject *self, PyObject *o) {
        if (!ready) { load_tables(); ready = 1; }
        Py_RETURN_NONE;
    }
    """ + TAIL
    assert lazy(scan_c(code, select=["FT3"])) == [("ready", 6, "get")]


def test_sentinel_value_check(scan_c):
    code = """
    #include <Python.h>
    #include <stdlib.h>
    static PyObject *get(PyObject *self, PyObject *o) {
        static int enabled = -1;
        if (-1 == enabled) enabled = getenv("DEBUG") != NULL;
        return PyBool_FromLong(enabled);
    }
    """ + TAIL
    assert lazy(scan_c(code, select=["FT3"])) == [("enabled", 6, "get")]


def test_statics_set_together_under_one_check(scan_c):
    code = """
    #include <Python.h>
    static PyObject *open_s, *close_s, *empty_s;
    static PyObject *get(PyObject *self, PyObject *o) {
        if (open_s == NULL || close_s == NULL) {
            open_s = PyUnicode_InternFromString("{");
            close_s = PyUnicode_InternFromString("}");
            empty_s = PyUnicode_InternFromString("{}");
        }
        return Py_NewRef(empty_s);
    }
    """ + TAIL
    res = scan_c(code, select=["FT3"])
    assert lazy(res) == [("close_s", 5, "get"), ("empty_s", 5, "get"), ("open_s", 5, "get")]
    empty = next(f for f in res.findings if f.symbol == "empty_s")
    assert "under the check of 'open_s'" in empty.message


def test_pointer_to_a_type_object_is_shared_state(scan_c):
    code = """
    #include <Python.h>
    static PyTypeObject *DecimalType;
    static PyObject *get(PyObject *self, PyObject *o) {
        if (DecimalType == NULL) {
            PyObject *m = PyImport_ImportModule("decimal");
            if (m == NULL) return NULL;
            DecimalType = (PyTypeObject *)PyObject_GetAttrString(m, "Decimal");
            Py_DECREF(m);
        }
        return PyBool_FromLong(PyObject_TypeCheck(o, DecimalType));
    }
    """ + TAIL
    assert lazy(scan_c(code, select=["FT3"])) == [("DecimalType", 5, "get")]
