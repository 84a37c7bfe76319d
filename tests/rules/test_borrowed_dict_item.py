"""FT102 borrowed-dict-item on real C files."""

from __future__ import annotations

import os

import pytest

PY313 = "/root/.pyenv/versions/3.13.0/bin/python"
PYTHONS = [None] + ([PY313] if os.path.exists(PY313) else [])

HEAD = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *cache; } Obj;
static PyObject *registry;
"""


def found(scan_c, body, code, **kw):
    return [f for f in scan_c(HEAD + body, select=[code], **kw).findings if f.code == code]


@pytest.mark.parametrize("python", PYTHONS)
def test_every_get_item_form_on_shared_dicts(scan_c, python):
    res = found(scan_c, """
    static PyObject *lookup(Obj *self, PyObject *key) {
        PyObject *a = PyDict_GetItem(self->cache, key);
        PyObject *b = PyDict_GetItemWithError(registry, key);
        if (b == NULL && PyErr_Occurred()) return NULL;
        PyObject *c = PyDict_GetItemString(PyModule_GetDict(PyImport_ImportModule("m")), "x");
        return PyTuple_Pack(3, a, b, c);
    }
    """, "FT102", python=python)
    assert [f.symbol for f in res] == ["PyDict_GetItem(self->cache)", "PyDict_GetItemWithError(registry)",
                                       'PyDict_GetItemString(PyModule_GetDict(PyImport_ImportModule("m")))']
    assert "PyDict_GetItemRef (3.13+" in res[0].message and "'self->cache'" in res[0].message
    assert "PyDict_GetItemStringRef" in res[2].message
    assert all(f.data["replacement_form"] == "out" for f in res)
    assert res[1].data["result_var"] == "b" and res[1].data["result_use"] == "local"


def test_private_dict_api_is_reported(scan_c):
    res = found(scan_c, """
    static PyObject *f(Obj *self, PyObject *key) {
        PyObject *v = _PyDict_GetItem_KnownHash(self->cache, key, PyObject_Hash(key));
        PyObject *w = _PyDict_GetItemStringWithError(self->cache, "w");
        return PyTuple_Pack(2, v, w);
    }
    """, "FT102")
    assert [f.data["api"] for f in res] == ["_PyDict_GetItem_KnownHash", "_PyDict_GetItemStringWithError"]
    assert res[1].data["replacement"] == "PyDict_GetItemStringRef"


@pytest.mark.parametrize("python", PYTHONS)
def test_keyword_dicts_are_private_to_the_call(scan_c, python):
    res = found(scan_c, """
    static PyObject *f(PyObject *self, PyObject *args, PyObject *kwds) {
        PyObject *v = kwds ? PyDict_GetItemString(kwds, "verbose") : NULL;
        return Py_XNewRef(v);
    }
    static PyObject *g(PyObject *self, PyObject *args, PyObject *options) {
        return Py_XNewRef(PyDict_GetItemString(options, "verbose"));
    }
    static PyObject *h(PyObject *self, PyObject *kwargs) {
        return Py_XNewRef(PyDict_GetItemString(kwargs, "verbose"));
    }
    static PyMethodDef methods[] = {
        {"f", (PyCFunction)(void(*)(void))f, METH_VARARGS | METH_KEYWORDS, NULL},
        {"g", (PyCFunction)(void(*)(void))g, METH_VARARGS | METH_KEYWORDS, NULL},
        {"h", (PyCFunction)h, METH_O, NULL},
        {NULL}
    };
    """, "FT102", python=python)
    # h is METH_O: its argument is the caller's dict, whatever its name
    assert [f.function for f in res] == ["h"]


def test_own_dicts_and_membership_tests_are_not_reported(scan_c):
    assert found(scan_c, """
    static PyObject *f(Obj *self, PyObject *key) {
        PyObject *d = PyDict_New();
        PyDict_SetItem(d, key, Py_None);
        PyObject *v = Py_NewRef(PyDict_GetItem(d, key));
        PyObject *c = PyDict_Copy(self->cache);
        PyObject *w = PyDict_GetItem(c, key);
        Py_XINCREF(w);
        if (PyDict_GetItem(self->cache, key) != NULL) Py_DECREF(v);
        if (!PyDict_GetItemString(registry, "x")) return NULL;
        Py_DECREF(d);
        Py_DECREF(c);
        return v;
    }
    """, "FT102") == []


def test_dict_returned_to_python_before_the_lookup_is_reported(scan_c):
    res = found(scan_c, """
    static PyObject *f(Obj *self, PyObject *key) {
        PyObject *d = Py_BuildValue("{s:i}", "a", 1);
        PyObject *t = d;
        registry = t;
        return Py_XNewRef(PyDict_GetItemString(d, "a"));
    }
    static PyObject *g(Obj *self, PyObject *key) {
        PyObject *d = Py_BuildValue("{s:i}", "a", 1);
        PyObject *v = Py_XNewRef(PyDict_GetItemString(d, "a"));
        Py_DECREF(d);
        return v;
    }
    """, "FT102")
    assert [f.function for f in res] == ["f"]


def test_dict_made_afresh_each_iteration_is_private_until_packed(scan_c):
    # Reduced from python-ldap's LDAPmessage_to_python: a new dict per entry, read while being
    # filled, packed into the result only at the end of the iteration.
    res = found(scan_c, """
    static PyObject *entries(PyObject *self, PyObject *names) {
        PyObject *result = PyList_New(0);
        Py_ssize_t n = PyList_Size(names);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *attrdict = PyDict_New();
            for (Py_ssize_t j = 0; j < 3; j++) {
                PyObject *key = PyLong_FromSsize_t(j);
                PyObject *values = PyDict_GetItem(attrdict, key);
                if (values == NULL) {
                    values = PyList_New(0);
                    PyDict_SetItem(attrdict, key, values);
                    Py_DECREF(values);
                }
                else {
                    PyList_Append(values, key);
                }
                Py_DECREF(key);
            }
            PyObject *entry = Py_BuildValue("(OO)", self, attrdict);
            PyList_Append(result, entry);
            registry = attrdict;
        }
        return result;
    }
    static PyObject *kept(PyObject *self, PyObject *key) {
        PyObject *d = PyDict_New();
        for (int i = 0; i < 2; i++) {
            PyObject *v = PyDict_GetItem(d, key);
            Py_XINCREF(v);
            Py_XDECREF(v);
            if (i == 0) {
                registry = d;
            }
        }
        return Py_NewRef(Py_None);
    }
    static PyObject *sometimes(PyObject *self, PyObject *key) {
        PyObject *d = PyDict_New();
        for (int i = 0; i < 2; i++) {
            if (i) d = PyDict_New();
            PyObject *w = PyDict_GetItem(d, key);
            Py_XINCREF(w);
            Py_XDECREF(w);
            registry = d;
        }
        return Py_NewRef(Py_None);
    }
    """, "FT102")
    # the dict published at the end of an iteration is a new one by the next read; kept() reads the same
    # dict again after publishing it, sometimes() replaces it only on some iterations
    assert [(f.function, f.symbol) for f in res] == [("kept", "PyDict_GetItem(d)"), ("sometimes", "PyDict_GetItem(d)")]


def test_helpers_only_module_init_calls_are_not_reported(scan_c):
    # Reduced from mysqlclient's _mysql_NewException: a static helper PyInit calls on the exceptions
    # module's dict. The same read from a helper a method also calls is reported.
    res = found(scan_c, """
    static PyObject *new_exception(PyObject *dict, PyObject *edict, const char *name) {
        PyObject *e = PyDict_GetItemString(edict, name);
        if (!e || PyDict_SetItemString(dict, name, e)) return NULL;
        return Py_NewRef(e);
    }
    static PyObject *lookup(PyObject *edict, const char *name) {
        PyObject *e = PyDict_GetItemString(edict, name);
        return Py_XNewRef(e);
    }
    static PyObject *get(PyObject *self, PyObject *arg) {
        return lookup(registry, "x");
    }
    static PyMethodDef methods[] = {{"get", get, METH_O, NULL}, {NULL}};
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_m(void) {
        PyObject *m = PyModule_Create(&def);
        PyObject *emod = PyImport_ImportModule("m._exceptions");
        PyObject *edict = PyModule_GetDict(emod);
        PyObject *e = new_exception(PyModule_GetDict(m), edict, "Error");
        Py_XDECREF(e);
        Py_XDECREF(lookup(edict, "Warning"));
        return m;
    }
    """, "FT102")
    assert [(f.function, f.symbol) for f in res] == [("lookup", "PyDict_GetItemString(edict)")]
