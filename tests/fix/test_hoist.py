"""A borrowed-reference call inside a larger expression: hoisted into a strong-reference temporary
released right after its statement (a return computes its value first, an if its condition).  The
functions' own releases (Py_DECREF before an early return, a goto to a cleanup label) stay single:
the patched module is built and run with reference counts checked."""

from __future__ import annotations

import sys

from tests.fix.conftest import build_and_run

CODE = """\
    #include <Python.h>

    static long first_long(PyObject *self, PyObject *lst) {
        return PyLong_AsLong(PyList_GetItem(lst, 0));
    }

    static PyObject *first(PyObject *self, PyObject *lst) {
        long v = first_long(self, lst);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        return PyLong_FromLong(v);
    }

    /* Early returns release what the function holds; the cleanup label releases r. */
    static PyObject *describe(PyObject *self, PyObject *args) {
        PyObject *d, *k, *lst, *r = NULL, *s;
        if (!PyArg_ParseTuple(args, "OOO", &d, &k, &lst))
            return NULL;
        r = PyObject_Repr(PyDict_GetItem(d, k));
        if (r == NULL)
            return NULL;
        long n = PyObject_Length(PyDict_GetItemWithError(d, k));
        if (n < 0) {
            Py_DECREF(r);
            return NULL;
        }
        if (PyObject_IsTrue(PyList_GetItem(lst, 0))) {
            Py_DECREF(r);
            return PyLong_FromLong(n);
        }
        s = PyObject_Str(PyList_GET_ITEM(lst, 1));
        if (s == NULL)
            goto error;
        Py_DECREF(s);
        return r;
    error:
        Py_XDECREF(r);
        return NULL;
    }

    static PyObject *copy_first(PyObject *self, PyObject *lst) {
        PyObject *t = PyTuple_New(1);
        if (t == NULL)
            return NULL;
        PyTuple_SET_ITEM(t, 0, PyList_GET_ITEM(lst, 0));
        return t;
    }

    static PyMethodDef methods[] = {
        {"first", first, METH_O, NULL},
        {"describe", describe, METH_VARARGS, NULL},
        {"copy_first", copy_first, METH_O, NULL},
        {NULL, NULL, 0, NULL},
    };
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "hoist", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_hoist(void) { return PyModule_Create(&def); }
"""

RUN = """
import hoist, sys
class V:
    def __repr__(self): return "V"
    def __len__(self): return 3
    def __str__(self): return "v"
class Bad:
    def __str__(self): raise ValueError("no str")
def fails(error, fn, *args):
    try:
        fn(*args)
    except error:
        return True
v, bad, num = V(), Bad(), 10**30
before = (sys.getrefcount(v), sys.getrefcount(bad), sys.getrefcount(num))
for _ in range(1000):
    assert hoist.first([7]) == 7
    assert fails(SystemError, hoist.first, [])  # PyLong_AsLong(NULL), as before the fix
    assert hoist.describe({"k": v}, "k", [False, v]) == "V"
    assert hoist.describe({"k": v}, "k", [True, v]) == 3
    assert fails(ValueError, hoist.describe, {"k": v}, "k", [False, bad])
    assert fails(TypeError, hoist.describe, {"k": num}, "k", [False, v])
assert (sys.getrefcount(v), sys.getrefcount(bad), sys.getrefcount(num)) == before
print("ok")
"""


def test_hoisted_into_a_temporary(project):
    project.write({"hoist.c": CODE})
    rc, diff, err = project.fix("--select", "FT101,FT102", "--min-python", "3.10", "--unsafe-fixes", "--apply")
    text = project.read("hoist.c")
    assert ("    { PyObject *extmigrate_item = PyList_GetItemRef(lst, 0); long extmigrate_ret = "
            "PyLong_AsLong(extmigrate_item); Py_XDECREF(extmigrate_item); return extmigrate_ret; }\n") in text
    assert ("    {\n        PyObject *extmigrate_item = NULL;\n"
            "        if (PyDict_GetItemRef(d, k, &extmigrate_item) < 0) {\n            PyErr_Clear();\n        }\n"
            "        r = PyObject_Repr(extmigrate_item);\n        Py_XDECREF(extmigrate_item);\n    }\n") in text
    assert ("    PyObject *extmigrate_item_22 = NULL;\n    (void)PyDict_GetItemRef(d, k, &extmigrate_item_22);\n"
            "    long n = PyObject_Length(extmigrate_item_22);\n    Py_XDECREF(extmigrate_item_22);\n") in text
    assert ("    PyObject *extmigrate_item_27 = PyList_GetItemRef(lst, 0);\n"
            "    int extmigrate_cond_27 = (PyObject_IsTrue(extmigrate_item_27)) != 0;\n"
            "    Py_XDECREF(extmigrate_item_27);\n    if (extmigrate_cond_27) {\n") in text
    assert "        s = PyObject_Str(extmigrate_item);\n        Py_XDECREF(extmigrate_item);\n    }\n" in text
    assert text.count("Py_DECREF(r);") == 2 and text.count("Py_XDECREF(r);") == 1  # the code's own, once
    assert ("hoist.c:45:28: FT101 not fixed: the borrowed reference is handed to PyTuple_SET_ITEM(), "
            "which steals it") in err
    assert "5 finding(s) fixed, 1 left" in err
    project.compiles_everywhere("hoist.c")
    assert build_and_run(project.root, "hoist", sys.executable, RUN) == "ok"


def test_conditional_expressions_are_left(project):
    project.write({"cond.c": """\
        #include <Python.h>
        static PyObject *pick(PyObject *self, PyObject *args) {
            PyObject *l;
            int i;
            if (!PyArg_ParseTuple(args, "Oi", &l, &i))
                return NULL;
            return PyObject_Repr(i >= 0 ? PyList_GetItem(l, i) : Py_None);
        }
        static PyMethodDef methods[] = {{"pick", pick, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT101", "--unsafe-fixes")
    assert "a conditional expression (&&, ||, ?:)" in err and diff == ""


def test_assignment_in_a_macro_argument_reason(project):
    project.write({"mac.c": """\
        #include <Python.h>
        #define KEEP_LAST(expr) do { if ((expr) == NULL) return NULL; } while (0)
        static PyObject *last(PyObject *self, PyObject *l) {
            PyObject *item;
            KEEP_LAST(item = PyList_GetItem(l, PyList_GET_SIZE(l) - 1));
            return PyObject_Repr(item);
        }
        static PyMethodDef methods[] = {{"last", last, METH_O, NULL}, {NULL, NULL, 0, NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT101", "--unsafe-fixes")
    assert ("the result is assigned to 'item' inside an argument of the macro KEEP_LAST(): its "
            "expansion decides how long the reference must live") in err, err
