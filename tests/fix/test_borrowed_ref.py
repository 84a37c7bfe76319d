"""FT101-FT106 fixes: strong-reference replacements whose new reference is owned: the INCREF that
made it strong goes, or it is released on every return.  The patched module is built and run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import header_pythons
from tests.fix.conftest import git_apply_check

BOX = """\
    #include <Python.h>

    static PyObject *first(PyObject *self, PyObject *items) {
        PyObject *item = PyList_GetItem(items, 0);
        if (item == NULL)
            return NULL;
        Py_INCREF(item);
        return item;
    }

    static PyObject *first_new(PyObject *self, PyObject *items) {
        return Py_NewRef(PyList_GetItem(items, 0));
    }

    static PyObject *lookup(PyObject *self, PyObject *args) {
        PyObject *map, *key, *value;
        if (!PyArg_ParseTuple(args, "OO", &map, &key))
            return NULL;
        value = PyDict_GetItemWithError(map, key);
        if (value == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        return PyObject_Repr(value);
    }

    static PyObject *get_checked(PyObject *self, PyObject *args) {
        PyObject *map, *key, *value;
        int fail;
        if (!PyArg_ParseTuple(args, "OOi", &map, &key, &fail))
            return NULL;
        value = PyDict_GetItemWithError(map, key);
        if (value == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        if (fail)
            return PyErr_Format(PyExc_RuntimeError, "asked to fail");
        Py_INCREF(value);
        return value;
    }

    static PyObject *deref(PyObject *self, PyObject *ref) {
        PyObject *obj = PyWeakref_GetObject(ref);
        if (obj == NULL)
            return NULL;
        return PyObject_Repr(obj);
    }

    static PyObject *borrowed_out(PyObject *self, PyObject *items) {
        return PyList_GetItem(items, 0);
    }

    static PyMethodDef methods[] = {
        {"first", first, METH_O, NULL},
        {"first_new", first_new, METH_O, NULL},
        {"lookup", lookup, METH_VARARGS, NULL},
        {"deref", deref, METH_O, NULL},
        {"get_checked", get_checked, METH_VARARGS, NULL},
        {"borrowed_out", borrowed_out, METH_O, NULL},
        {NULL, NULL, 0, NULL},
    };
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "box", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_box(void) { return PyModule_Create(&def); }
"""

RUN = """
import box, sys, weakref
class C: pass
item = C()
items = [item]
before = sys.getrefcount(item)
for _ in range(1000):
    assert box.first(items) is item
    assert box.first_new(items) is item
    assert box.lookup({"k": item}, "k").startswith("<__main__.C")
    assert box.lookup({}, "k") is None
    assert box.deref(weakref.ref(item)).startswith("<__main__.C")
    assert box.get_checked({"k": item}, "k", 0) is item
    try:
        box.get_checked({"k": item}, "k", 1)
    except RuntimeError:
        pass
assert sys.getrefcount(item) == before, (sys.getrefcount(item), before)
dead = C(); r = weakref.ref(dead); del dead
assert box.deref(r) == "None"
try:
    box.first([])
except IndexError:
    pass
print("ok")
"""


def test_shapes(project):
    project.write({"box.c": BOX})
    rc, diff, err = project.fix("--select", "borrowed-ref", "--min-python", "3.10")
    git_apply_check(project.root, diff)
    assert "-    Py_INCREF(item);\n" in diff
    assert "+    return PyList_GetItemRef(items, 0);\n" in diff
    assert "borrowed_out" not in diff and "returned to the caller" in err
    assert "--unsafe-fixes" in err  # releasing on every return needs review
    rc, diff, err = project.fix("--select", "borrowed-ref", "--min-python", "3.10", "--unsafe-fixes",
                                "--apply")
    text = project.read("box.c")
    assert "    PyObject *map, *key, *value = NULL;\n    if (!PyArg_ParseTuple" in text
    assert "    (void)PyDict_GetItemRef(map, key, &value);\n" in text
    assert "            return NULL;\n            Py_RETURN_NONE;" not in text  # value is NULL there
    assert ("    { PyObject *extmigrate_ret = PyObject_Repr(value); Py_XDECREF(value); "
            "return extmigrate_ret; }\n") in text
    assert ("    if (fail)\n        { PyObject *extmigrate_ret = PyErr_Format(PyExc_RuntimeError, "
            "\"asked to fail\"); Py_XDECREF(value); return extmigrate_ret; }\n    return value;\n") in text
    assert "    if (PyWeakref_GetRef(ref, &obj) == 0) {\n        obj = Py_NewRef(Py_None);\n    }\n" in text
    project.compiles_everywhere("box.c")
    rc, report = project.scan("--select", "borrowed-ref")
    assert rc == 1 and report.count(": FT101 ") == 1 and report.count(": FT10") == 1  # borrowed_out
    assert project.fix("--select", "borrowed-ref", "--min-python", "3.10", "--unsafe-fixes")[1] == ""


RUNNABLE = [c for c in header_pythons() if c.version >= (3, 10)]


@pytest.mark.parametrize("python", RUNNABLE, ids=[c.id for c in RUNNABLE])
def test_patched_module_runs_without_leaks(project, python):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build the patched module")
    project.write({"box.c": BOX})
    project.fix("--select", "borrowed-ref", "--min-python", "3.10", "--unsafe-fixes", "--apply")
    info = subprocess.run([python.exe, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                           "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-I", info[0], "box.c", "-o", "box" + info[1]],
                   check=True, cwd=project.root)
    r = subprocess.run([python.exe, "-c", RUN], capture_output=True, text=True, cwd=project.root)
    assert r.stdout.strip() == "ok", r.stderr


def test_incref_in_a_branch_is_not_dropped(project):
    project.write({"m.c": """\
        #include <Python.h>
        static PyObject *pick(PyObject *self, PyObject *args) {
            PyObject *items, *item;
            int want;
            if (!PyArg_ParseTuple(args, "Oi", &items, &want))
                return NULL;
            item = PyList_GetItem(items, 0);
            if (item == NULL)
                return NULL;
            if (want) {
                Py_INCREF(item);
                return item;
            }
            Py_RETURN_NONE;
        }
        static PyMethodDef methods[] = {{"pick", pick, METH_VARARGS, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT101", "--unsafe-fixes")
    assert diff == ""
    assert "in another block than the call" in err


def test_cell_contents_become_a_new_reference(project):
    project.write({"cell.c": """\
        #include <Python.h>
        typedef struct { PyObject_HEAD PyObject *cell; } Holder;
        static PyObject *contents(Holder *self, PyObject *unused) {
            PyObject *v = PyCell_GET(self->cell);
            if (v == NULL)
                Py_RETURN_NONE;
            Py_INCREF(v);
            return v;
        }
        static PyMethodDef methods[] = {{"contents", (PyCFunction)contents, METH_NOARGS, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT107")
    assert diff == "" and "--unsafe-fixes" in err  # a macro becomes a call that checks its argument
    text = project.apply_and_verify("cell.c", "FT107", "--unsafe-fixes")
    assert "    PyObject *v = PyCell_Get(self->cell);\n    if (v == NULL)\n        Py_RETURN_NONE;\n    return v;\n" in text
    assert "extmigrate_compat.h" not in text  # every Python has PyCell_Get


def test_assignment_in_a_braceless_branch_is_not_rewritten(project):
    """`if (c) v = CALL; else ...`: the replacement is an if statement of its own, which would take
    the else; the fix asks for braces instead."""
    project.write({"m.c": """\
        #include <Python.h>
        static PyObject *pick(PyObject *self, PyObject *args) {
            PyObject *map, *key, *v;
            int want;
            if (!PyArg_ParseTuple(args, "OOi", &map, &key, &want))
                return NULL;
            if (want)
                v = PyDict_GetItem(map, key);
            else
                v = NULL;
            if (v == NULL)
                Py_RETURN_NONE;
            Py_INCREF(v);
            return v;
        }
        static PyMethodDef methods[] = {{"pick", pick, METH_VARARGS, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT102", "--unsafe-fixes")
    assert diff == ""
    assert "braceless" in err


@pytest.mark.parametrize("before, braceless", [
    ("    if (want)\n        ", True),
    ("    if (f(a, (b)))  /* why */\n        ", True),
    ("    else\n        ", True),
    ("    while (n--)\n#ifdef X\n#endif\n        ", True),
    ("    x = 1;\n    ", False),
    ("    {\n    ", False),
    ("    case 3:\n    ", False),
    ("    LOCK(map)\n    ", False),  # a project macro without `;` ends no branch head
    ("    if (a) { b(); }\n    ", False),
])
def test_braceless_body(before, braceless):
    from extmigrate.fix.borrowed import _braceless_body

    assert _braceless_body(before) is braceless
