"""FT102 borrowed-dict-item on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

HEAD = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *cache; } Obj;
static PyObject *registry;
static PyObject *set_registry(PyObject *self, PyObject *d) {  /* replaced while others read it */
    Py_XSETREF(registry, Py_NewRef(d));
    Py_RETURN_NONE;
}
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
    """, "FT102", headers=python)
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
    """, "FT102", headers=python)
    # h is METH_O: its argument is the caller's dict, whatever its name
    assert [f.function for f in res] == ["h"]


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


def test_constants_dict_only_module_init_fills_is_frozen_across_files(scan_c):
    # Reduced from pycurl: my_getattro() (compat.c) looks a name up in the object's own dict, then
    # in a module-level constants dict; module.c creates and fills that dict in PyInit only; obj.c
    # passes it. The object's dict may change under the lookup, the constants dict cannot.
    compat = """
    #include <Python.h>
    PyObject *my_getattro(PyObject *co, PyObject *name, PyObject *dict1, PyObject *dict2) {
        PyObject *v = NULL;
        if (dict1 != NULL)
            v = PyDict_GetItem(dict1, name);
        if (v == NULL && dict2 != NULL)
            v = PyDict_GetItem(dict2, name);
        if (v != NULL)
            return Py_NewRef(v);
        return PyErr_Format(PyExc_AttributeError, "no attribute %U", name);
    }
    """
    module = """
    #include <Python.h>
    PyObject *constants = NULL;
    static int insint(PyObject *d, PyObject *extra, const char *name, long value) {
        PyObject *v = PyLong_FromLong(value);
        if (v == NULL || PyDict_SetItemString(d, name, v) < 0) { Py_XDECREF(v); return -1; }
        if (extra != NULL && PyDict_SetItemString(extra, name, v) < 0) { Py_DECREF(v); return -1; }
        Py_DECREF(v);
        return 0;
    }
    #define insint_c(d, name, value) \\
        do { if (insint(d, constants, name, value) < 0) goto error; } while (0)
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, NULL};
    PyMODINIT_FUNC PyInit_m(void) {
        PyObject *m = PyModule_Create(&def);
        if (m == NULL) return NULL;
        constants = PyDict_New();
        if (constants == NULL) goto error;
        insint_c(PyModule_GetDict(m), "OPT", 1);
        %s
        return m;
    error:
        Py_XDECREF(constants);
        Py_DECREF(m);
        return NULL;
    }
    """
    obj = """
    #include <Python.h>
    typedef struct { PyObject_HEAD PyObject *dict; } Obj;
    extern PyObject *constants;
    PyObject *my_getattro(PyObject *co, PyObject *name, PyObject *dict1, PyObject *dict2);
    static PyObject *obj_getattro(PyObject *o, PyObject *n) {
        PyObject *v = PyObject_GenericGetAttr(o, n);
        if (v != NULL) return v;
        PyErr_Clear();
        return my_getattro(o, n, ((Obj *)o)->dict, constants);
    }
    static PyType_Slot slots[] = {{Py_tp_getattro, obj_getattro}, {0, NULL}};
    %s
    """
    def found(init="", more=""):  # the same file names each time: scan_c overwrites them
        res = scan_c({"compat.c": compat, "module.c": module % init, "obj.c": obj % more},
                     select=["FT102"])
        return sorted(f.symbol for f in res.findings if f.code == "FT102")

    assert found() == ["PyDict_GetItem(dict1)"]
    # a method that adds to the dict after initialisation
    assert found(more="""
    static PyObject *define(PyObject *self, PyObject *args) {
        if (PyDict_SetItem(constants, PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 1)) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    static PyMethodDef methods[] = {{"define", define, METH_VARARGS, NULL}, {NULL}};
    """) == ["PyDict_GetItem(dict1)", "PyDict_GetItem(dict2)"]
    # initialisation hands the dict to Python code, which can change it at any time
    assert found(init='if (PyModule_AddObject(m, "constants", Py_NewRef(constants)) < 0) goto error;') \
        == ["PyDict_GetItem(dict1)", "PyDict_GetItem(dict2)"]
    # another caller passes something else as the 4th argument
    assert found(more="""
    static PyObject *obj_lookup(PyObject *o, PyObject *n) {
        return my_getattro(o, n, NULL, ((Obj *)o)->dict);
    }
    static PyMethodDef methods[] = {{"lookup", obj_lookup, METH_O, NULL}, {NULL}};
    """) == ["PyDict_GetItem(dict1)", "PyDict_GetItem(dict2)"]
