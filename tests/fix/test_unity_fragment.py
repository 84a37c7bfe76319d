"""A unity build's fragment (a .c file another .c includes) gets the fixes of project-wide findings:
they are proposed by parsing the file that includes it, not refused as 'declared in a header'."""

from __future__ import annotations

MAIN = """\
#include <Python.h>
#include "part.c"
static PyMethodDef methods[] = {{"bump", bump, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&def); }
"""

PART = """\
static long counter;
static PyObject *bump(PyObject *self, PyObject *unused) {
    counter++;
    return PyLong_FromLong(counter);
}
"""


def test_counter_in_an_included_fragment_is_fixed_through_its_includer(project):
    project.write({"main.c": MAIN, "part.c": PART})
    rc, diff, err = project.fix("--no-cache")
    assert "declared in a header" not in err
    assert "+    EXTMIGRATE_ATOMIC_ADD(&counter, 1);" in diff
    assert "2 finding(s) fixable, 0 left" in err
    project.fix("--no-cache", "--apply")
    part = project.read("part.c")
    assert part.startswith('#include "extmigrate_compat.h"\n')  # before the fragment's first use
    assert "counter++" not in part
    project.compiles_everywhere("main.c")
