"""A borrowed reference made strong inside a nested block: released at the end of that block and on
every way out of it when only the block uses it; used after the block, released on the function's
(or the loop pass's) ways out, the variable NULL on the paths that did not take it.  The patched
module is built and run many times with a reference count check."""

from __future__ import annotations

import sys

from tests.fix.conftest import build_and_run

NESTED = """\
    #include <Python.h>

    /* Declared at function scope, taken and used only inside an if block; the function's own
       error path releases its list before returning. */
    static PyObject *lookup_in_block(PyObject *self, PyObject *args) {
        PyObject *d, *v, *out;
        int want;
        if (!PyArg_ParseTuple(args, "Oi", &d, &want))
            return NULL;
        out = PyList_New(0);
        if (out == NULL)
            return NULL;
        if (want) {
            v = PyDict_GetItemString(d, "k");
            if (v == NULL) {
                Py_DECREF(out);
                return PyLong_FromLong(-1);
            }
            if (want == 2) {
                Py_DECREF(out);
                return PyErr_Format(PyExc_ValueError, "want 2 for %R", v);
            }
            if (PyList_Append(out, v) < 0) {
                Py_DECREF(out);
                return NULL;
            }
        }
        return out;
    }

    /* A variable of the loop's body taken in a nested block of the pass: break, continue and a
       goto to the cleanup label leave it. */
    static PyObject *sum_present(PyObject *self, PyObject *args) {
        PyObject *d, *keys, *total = NULL;
        Py_ssize_t i;
        if (!PyArg_ParseTuple(args, "OO", &d, &keys))
            return NULL;
        total = PyLong_FromLong(0);
        if (total == NULL)
            return NULL;
        for (i = 0; i < PyList_GET_SIZE(keys); i++) {
            PyObject *item;
            if (i % 2 == 0) {
                PyObject *sum;
                item = PyDict_GetItem(d, PyList_GET_ITEM(keys, i));
                if (item == NULL)
                    continue;
                if (item == Py_None)
                    break;
                if (item == Py_Ellipsis)
                    goto error;
                sum = PyNumber_Add(total, item);
                if (sum == NULL)
                    goto error;
                Py_SETREF(total, sum);
            }
        }
        return total;
    error:
        Py_DECREF(total);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "ellipsis");
        return NULL;
    }

    /* A function variable set in one branch of a loop's pass and used after the branch. */
    static PyObject *pick(PyObject *self, PyObject *args) {
        PyObject *d, *names, *v, *out;
        Py_ssize_t i;
        if (!PyArg_ParseTuple(args, "OO", &d, &names))
            return NULL;
        out = PyList_New(0);
        if (out == NULL)
            return NULL;
        for (i = 0; i < PyTuple_GET_SIZE(names); i++) {
            if (PyTuple_GET_ITEM(names, i) == Py_None) {
                v = NULL;
            } else {
                v = PyDict_GetItem(d, PyTuple_GET_ITEM(names, i));
                if (v == NULL) {
                    PyErr_SetString(PyExc_KeyError, "missing");
                    break;
                }
            }
            if (PyList_Append(out, v ? v : Py_None) < 0) {
                Py_DECREF(out);
                return NULL;
            }
        }
        if (PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        return out;
    }

    /* Read before it is taken in the pass: no mechanical fix. */
    static PyObject *read_first(PyObject *self, PyObject *args) {
        PyObject *d, *keys, *v = NULL;
        Py_ssize_t i, n = 0;
        if (!PyArg_ParseTuple(args, "OO", &d, &keys))
            return NULL;
        for (i = 0; i < PyList_GET_SIZE(keys); i++) {
            if (v != NULL)
                n++;
            if (i > 0) {
                v = PyDict_GetItem(d, PyList_GET_ITEM(keys, i));
                if (v != NULL && PyObject_IsTrue(v))
                    n++;
            }
        }
        return PyLong_FromSsize_t(n);
    }

    static PyMethodDef methods[] = {
        {"lookup_in_block", lookup_in_block, METH_VARARGS, NULL},
        {"sum_present", sum_present, METH_VARARGS, NULL},
        {"pick", pick, METH_VARARGS, NULL},
        {"read_first", read_first, METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
    };
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "nested", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_nested(void) { return PyModule_Create(&def); }
"""

RUN = """
import nested, sys
class V:
    def __init__(self, n): self.n = n
    def __radd__(self, other): return other + self.n
    def __repr__(self): return "V"
a, b = V(1), V(2)
d = {"k": a, "a": a, "b": b, "n": None, "e": ...}
def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    raise AssertionError(fn)
before = (sys.getrefcount(a), sys.getrefcount(b), sys.getrefcount(None), sys.getrefcount(...))
for _ in range(1000):
    assert nested.lookup_in_block(d, 1) == [a]
    assert nested.lookup_in_block(d, 0) == []
    assert nested.lookup_in_block({}, 1) == -1
    raises(ValueError, nested.lookup_in_block, d, 2)
    assert nested.sum_present(d, ["a", "x", "zz", "x", "b"]) == 3
    assert nested.sum_present(d, ["a", "x", "n", "x", "b"]) == 1
    raises(ValueError, nested.sum_present, d, ["a", "x", "e"])
    assert nested.pick(d, ("a", None, "b")) == [a, None, b]
    raises(KeyError, nested.pick, d, ("a", "zz", "b"))
after = (sys.getrefcount(a), sys.getrefcount(b), sys.getrefcount(None), sys.getrefcount(...))
assert after[:2] == before[:2], (after, before)
assert all(abs(x - y) < 100 for x, y in zip(after[2:], before[2:])), (after, before)  # 1000 runs
print("ok")
"""


def test_references_taken_in_nested_blocks(project):
    project.write({"nested.c": NESTED})
    rc, diff, err = project.fix("--select", "FT102", "--min-python", "3.10", "--unsafe-fixes", "--apply")
    text = project.read("nested.c")
    # lookup_in_block: released before each way out of the block after the call, and at its end
    assert "            { Py_XDECREF(v); return NULL; }\n" in text
    assert ('            { PyObject *extmigrate_ret = PyErr_Format(PyExc_ValueError, "want 2 for %R", v); '
            "Py_XDECREF(v); return extmigrate_ret; }\n") in text
    assert "        Py_XDECREF(v);\n    }\n    return out;\n" in text  # the block's end
    assert "            return PyLong_FromLong(-1);\n" in text  # NULL there
    assert "    PyObject *d, *v, *out;\n" in text  # every release follows the call: no NULL needed
    # sum_present: the pass's variable, released in the nested block's exits and at its end
    assert "        PyObject *item;\n" in text  # only the nested block uses it, after the call
    assert "            if (item == NULL)\n                continue;\n" in text  # item is NULL there
    assert "                { Py_XDECREF(item); break; }\n" in text
    assert text.count("                { Py_XDECREF(item); goto error; }\n") == 2
    assert "            Py_SETREF(total, sum);\n            Py_XDECREF(item);\n        }\n" in text
    # pick: used after the branch: cleared at the end of each pass, NULL until taken
    assert "    PyObject *d, *names, *v = NULL, *out;\n" in text
    assert "            { Py_CLEAR(v); return NULL; }\n" in text
    assert "        }\n        Py_CLEAR(v);\n    }\n" in text
    assert "'v' is read in the loop's pass before it is taken: release the reference by hand" in err
    assert "3 finding(s) fixed, 1 left" in err
    project.compiles_everywhere("nested.c")
    assert build_and_run(project.root, "nested", sys.executable, RUN) == "ok"
