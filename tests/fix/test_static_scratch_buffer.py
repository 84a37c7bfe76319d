"""FT303 fix: static scratch buffers become thread-local."""

from __future__ import annotations

BUFFERS = """\
    #include <Python.h>
    #include <stdio.h>
    #include <string.h>

    static char last_repr[128];

    static PyObject *fmt(PyObject *self, PyObject *arg) {
        static char buf[64];
        snprintf(buf, sizeof buf, "<%ld>", PyLong_AsLong(arg));
        strcpy(last_repr, buf);
        return PyUnicode_FromString(buf);
    }

    static PyMethodDef methods[] = {{"fmt", fmt, METH_O, NULL}, {NULL}};
"""


def test_function_static_is_safe_file_static_needs_review(project):
    project.write({"fmt.c": BUFFERS})
    rc, diff, err = project.fix("--select", "FT303")
    assert "+    static EXTMIGRATE_THREAD_LOCAL char buf[64];\n" in diff
    assert "last_repr" in err and "--unsafe-fixes" in err
    text = project.apply_and_verify("fmt.c", "FT303", "--unsafe-fixes")
    assert "static EXTMIGRATE_THREAD_LOCAL char last_repr[128];" in text
    assert "define EXTMIGRATE_THREAD_LOCAL" in project.read("extmigrate_compat.h")
