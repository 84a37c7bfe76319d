"""Leftovers sorted into blocking and benign: a module is declared GIL-free when only benign ones
remain (reading the environment; every thread storing the same value), and fix says which block."""

from __future__ import annotations

import pytest

from extmigrate.benign import _same_value

MODULE = """\
    #include <Python.h>
    #include <stdlib.h>

    static int enabled = -1;
    static long total;

    static int debug_enabled(void) {
        if (enabled < 0)
            enabled = getenv("M_DEBUG") != NULL;
        return enabled;
    }

    static PyObject *add(PyObject *self, PyObject *arg) {
        long n = PyLong_AsLong(arg);
        if (debug_enabled())
            fprintf(stderr, "add %ld\\n", n);
        total = total + n;
        return PyLong_FromLong(total);
    }

    static PyMethodDef methods[] = {{"add", add, METH_O, NULL}, {NULL}};
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_m(void) {
        PyObject *m = PyModule_Create(&def);
        return m;
    }
"""


def test_real_race_blocks_and_benign_ones_are_named(project):
    project.write({"m.c": MODULE})
    rc, diff, err = project.fix()
    assert ("m.c:24:19: FT202 not fixed: not declared GIL-free: 1 finding(s) left are races that "
            "block it (FT301 m.c:5 'total' (static-mutable-global)); not blocking, benign: "
            "FT301 m.c:4 'enabled' (every thread stores the same value in 'enabled' "
            "(getenv(\"M_DEBUG\") != NULL)), FT512 m.c:9 'getenv' (getenv() reads the environment, "
            "which nothing in the module writes)") in err
    assert "PyUnstable_Module_SetGIL" not in diff


def test_benign_leftovers_do_not_block(project):
    project.write({"m.c": MODULE.replace("total = total + n;", "total += n;")})  # an atomic add
    rc, out, err = project.fix("--apply")
    assert "m.c:24:19: FT202 declared GIL-free with 2 benign finding(s) left: FT301 m.c:4 'enabled'" in err
    assert "PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);" in project.read("m.c")
    rc, report = project.scan()
    assert "FT205" not in report  # not "declared too early" either
    assert report.count(": FT301 ") == 1 and report.count(": FT512 ") == 1


def test_a_module_that_writes_the_environment_blocks_on_getenv(project):
    project.write({"m.c": MODULE.replace("total = total + n;", "total += n;"),
                   "env.c": '#include <stdlib.h>\nvoid set_debug(void) { setenv("M_DEBUG", "1", 1); }\n'})
    rc, diff, err = project.fix()
    assert "left are races that block it (FT512 m.c:9 'getenv' (thread-unsafe-libc))" in err


def test_two_different_constants_race(project):
    module = MODULE.replace("total = total + n;", "total += n;").replace(
        "        return enabled;\n", "        return enabled;\n    }\n    void quiet(void) {  /* extern: other files may call it */\n"
                                 "        enabled = 0;\n")
    project.write({"m.c": module})
    rc, diff, err = project.fix()
    assert "left are races that block it (FT301 m.c:4 'enabled' (static-mutable-global))" in err


@pytest.mark.parametrize("expr, same", [
    ('getenv("X") != NULL', True),
    ("1", True),
    ("MAX_SIZE * 2", True),
    ("total + n", False),  # a local value: threads store different values
    ("enabled + 1", False),  # the variable itself: an increment
    ("rand()", False),
])
def test_same_value(expr, same):
    assert _same_value(expr, "enabled") is same


def test_a_race_left_in_a_header_of_another_folder_blocks(project):
    """The module's TU includes a header from another folder (src/lib/buf.h) whose race the fix
    leaves: the declaration is withheld, as FT205 would say after it."""
    project.write({"src/lib/buf.h": """\
        static PyObject *shared_list;
        static PyObject *last_block(PyObject *self, PyObject *unused) {
            Py_ssize_t n = PyList_GET_SIZE(shared_list);
            return Py_NewRef(n > 1 ? PyList_GET_ITEM(shared_list, n - 1) : Py_None);
        }
        """, "src/ext/m.c": """\
        #include <Python.h>
        #include "../lib/buf.h"
        static PyMethodDef methods[] = {{"last", last_block, METH_NOARGS, NULL}, {NULL}};
        static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
        PyMODINIT_FUNC PyInit_m(void) {
            PyObject *m = PyModule_Create(&def);
            if (m == NULL)
                return NULL;
            shared_list = PyList_New(0);
            return m;
        }
        """})
    rc, diff, err = project.fix("--unsafe-fixes")
    assert "FT202 not fixed: not declared GIL-free: 1 finding(s) left are races that block it (FT101 buf.h:4" in err, err
    assert "PyUnstable_Module_SetGIL" not in diff


BROKEN = """\
    #include <Python.h>
    #include "vendor/reader.h"   /* not found: -I is missing */

    typedef struct { PyObject_HEAD reader_t *reader; long fed; } Reader;

    static PyObject *feed(Reader *self, PyObject *arg) {
        reader_feed(self->reader, arg);
        self->fed = self->fed + 1;
        Py_RETURN_NONE;
    }

    static PyMethodDef methods[] = {{"feed", (PyCFunction)feed, METH_O, NULL}, {NULL}};
    static PyTypeObject ReaderType = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "m.Reader",
        .tp_basicsize = sizeof(Reader), .tp_methods = methods};
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, NULL};
    PyMODINIT_FUNC PyInit_m(void) {
        PyObject *m = PyModule_Create(&def);
        if (m == NULL || PyType_Ready(&ReaderType) < 0)
            return NULL;
        return m;
    }
"""


def test_findings_in_code_that_did_not_parse_block_the_declaration(project):
    """A race in a method whose body has parse errors is low-confidence (not counted, not fixed), but
    it may be real: the module is not declared GIL-free until the scan sees that code."""
    project.write({"m.c": BROKEN})
    rc, diff, err = project.fix()
    assert "not declared GIL-free: 1 low-confidence finding(s) in function bodies with parse errors " \
           "may be races (FT510 m.c:" in err, err
    assert "PyUnstable_Module_SetGIL" not in diff
    # the same module with its header there: the method parses, its race is fixed, the module declared
    project.write({"vendor/reader.h": "typedef struct reader reader_t;\n"
                                      "void reader_feed(reader_t *r, PyObject *data);\n"})
    rc, diff, err = project.fix("--unsafe-fixes")
    assert "low-confidence" not in err, err
    assert "PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED)" in diff, err
