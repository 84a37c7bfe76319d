"""FT501 fix: Py_REFCNT(o) == 1 -> PyUnstable_Object_IsUniquelyReferenced(o), compat below 3.14."""

from __future__ import annotations

from tests.fix.conftest import git_apply_check

CODE = """\
    #include <Python.h>

    static PyObject *reuse(PyObject *self, PyObject *t) {
        if (Py_REFCNT(t) == 1 && PyTuple_CheckExact(t)) {
            Py_RETURN_TRUE;
        }
        if (1 < Py_REFCNT(t))
            Py_RETURN_NONE;
        assert(Py_REFCNT(t) >= 1);
        Py_RETURN_FALSE;
    }

    static PyMethodDef methods[] = {{"reuse", reuse, METH_O, NULL}, {NULL}};
"""


def test_unique_and_shared_tests_rewritten(project):
    project.write({"m.c": CODE})
    rc, diff, err = project.fix("--select", "FT501", "--min-python", "3.10")
    git_apply_check(project.root, diff)
    text = project.apply_and_verify("m.c", "FT501", "--min-python", "3.10")
    assert "    if (PyUnstable_Object_IsUniquelyReferenced(t) && PyTuple_CheckExact(t)) {\n" in text
    assert "    if (!PyUnstable_Object_IsUniquelyReferenced(t))\n" in text
    assert "assert(Py_REFCNT(t) >= 1);" in text  # an expectation, not a decision: untouched
    assert "extmigrate_IsUniquelyReferenced" in project.read("extmigrate_compat.h")


def test_no_compat_header_when_the_oldest_python_has_the_api(project):
    project.write({"m.c": CODE})
    rc, diff, err = project.fix("--select", "FT501", "--min-python", "3.14")
    assert "extmigrate_compat.h" not in diff
    assert "+    if (PyUnstable_Object_IsUniquelyReferenced(t) && PyTuple_CheckExact(t)) {\n" in diff
