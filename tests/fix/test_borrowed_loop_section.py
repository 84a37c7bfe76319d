"""FT101 in a loop whose item variable belongs to the function and is reused after the loop (the
output-buffer join of CPython's _blocks_output_buffer.h): no strong reference can be owned per pass,
so the loop runs inside a critical section on the list."""

from __future__ import annotations

JOIN = """\
    #include <Python.h>
    #include <string.h>

    static PyObject *join_blocks(PyObject *self, PyObject *list) {
        PyObject *result, *block;
        Py_ssize_t n, i, size = 0;
        if (!PyList_Check(list) || (n = PyList_GET_SIZE(list)) == 0)
            return PyBytes_FromStringAndSize(NULL, 0);
        for (i = 0; i < n; i++) {
            block = PyList_GET_ITEM(list, i);
            if (!PyBytes_Check(block)) {
                PyErr_SetString(PyExc_TypeError, "bytes expected");
                return NULL;
            }
            size += PyBytes_GET_SIZE(block);
        }
        block = NULL;
        result = PyBytes_FromStringAndSize(NULL, size);
        return result;
    }

    static PyMethodDef methods[] = {{"join_blocks", join_blocks, METH_O, NULL}, {NULL}};
"""


def test_loop_over_a_shared_list_runs_in_a_critical_section(project):
    project.write({"j.c": JOIN})
    text = project.apply_and_verify("j.c", "FT101", "--unsafe-fixes", "--min-python", "3.10")
    assert "PyList_GET_ITEM(list, i)" in text  # the read stays borrowed, under the list's lock
    head, loop = text.split("    for (i = 0; i < n; i++) {", 1)
    assert "CRITICAL_SECTION" in head.splitlines()[-1]
    assert "EXTMIGRATE_CS_END" in loop.split("return NULL;", 1)[0]  # ended before the return out of it


def test_an_item_read_after_the_loop_keeps_the_declined_reason(project):
    project.write({"j.c": JOIN.replace("block = NULL;", "size += PyBytes_GET_SIZE(block);  /* the last again */")})
    rc, diff, err = project.fix("--select", "FT101", "--unsafe-fixes")
    assert "FT101 not fixed: 'block' is not a PyObject * declared in the loop's body" in err, err
    assert "CRITICAL_SECTION" not in diff
