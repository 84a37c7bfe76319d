"""FT502 fix: ob_refcnt reads -> Py_REFCNT (safe); writes and ++/-- -> the API (unsafe: review)."""

from __future__ import annotations

from tests.fix.conftest import header_targets

CODE = """\
    #include <Python.h>

    static PyObject *peek(PyObject *self, PyObject *t) {
        if (t->ob_refcnt > 2)
            Py_RETURN_FALSE;
        t->ob_refcnt++;
        Py_DECREF(t);
        t->ob_refcnt += 2;
        t->ob_refcnt -= 2;
        return PyLong_FromSsize_t(t->ob_refcnt);
    }

    static PyMethodDef methods[] = {{"peek", peek, METH_O, NULL}, {NULL}};
"""


def test_reads_are_safe_changes_need_review(project):
    project.write({"m.c": CODE})
    rc, diff, err = project.fix("--select", "FT502")
    assert "+    if (Py_REFCNT(t) > 2)\n" in diff
    assert "+    return PyLong_FromSsize_t(Py_REFCNT(t));\n" in diff
    assert "Py_INCREF" not in diff and "--unsafe-fixes" in err
    rc, diff, err = project.fix("--select", "FT502", "--unsafe-fixes")
    assert "+    Py_INCREF(t);\n" in diff
    assert err.count("changes by more than one") == 2  # += 2 / -= 2 are left to a human
    project.fix("--select", "FT502", "--unsafe-fixes", "--apply")
    for it, gil_disabled in header_targets():  # the `+= 2` left for a human needs the GIL layout
        if not gil_disabled and not it.free_threaded:
            assert project.compile("m.c", it) is None, it.label
    text = project.read("m.c")
    assert "t->ob_refcnt += 2;" in text and "t->ob_refcnt++" not in text
