"""FT303 static-scratch-buffer on real C through a real scan."""

from __future__ import annotations

import pytest

from tests.conftest import before, header_params

PYTHONS = header_params()

TAIL = """
static PyMethodDef methods[] = {{"fmt", (PyCFunction)fmt, METH_O, NULL}, {NULL}};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) { init_buffers(); return PyModule_Create(&moddef); }
"""


def fmt_module(decl: str, body: str, init: str = "") -> str:
    return ("#include <Python.h>\n#include <stdio.h>\n#include <string.h>\n" + decl +
            "\nstatic void init_buffers(void) {" + init + "}\n"
            "static PyObject *fmt(PyObject *self, PyObject *arg) {\n" + body +
            "\n    return PyUnicode_FromString(\"\");\n}\n" + TAIL)


WRITERS = {
    "snprintf": "    snprintf(buf, sizeof buf, \"<%ld>\", PyLong_AsLong(arg));",
    "strcpy": "    strcpy(buf, \"x\");",
    "strncpy": "    strncpy(buf, \"x\", sizeof buf);",
    "strcat": "    strcat(buf, \"x\");",
    "sprintf": "    sprintf(buf, \"%d\", 1);",
    "memcpy": "    memcpy(buf, \"abc\", 3);",
    "index": "    buf[0] = 'x';",
    "vsnprintf": "    va_list ap; vsnprintf(buf, sizeof buf, \"%d\", ap);",
}


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_file_static_buffer(scan_c, writer, python):
    res = scan_c(fmt_module("#include <stdarg.h>\nstatic char buf[64];", WRITERS[writer]),
                 select=["FT3"], headers=python)
    assert [(f.code, f.symbol, f.line) for f in res.findings] == [("FT303", "buf", 5)]
    assert res.findings[0].data["kind"] == "buffer"


def test_function_static_buffer(scan_c):
    res = scan_c(fmt_module("", "    static char buf[32];\n" + WRITERS["snprintf"]), select=["FT3"])
    f = res.findings[0]
    assert (f.code, f.symbol, f.function, f.data["scope"]) == ("FT303", "buf", "fmt", "function")
    assert "fmt()" in f.message


def test_memcpy_into_a_static_int_array_is_a_buffer_too(scan_c):
    res = scan_c(fmt_module("static int vals[4];", "    memcpy(vals, \"abcd\", 4);"), select=["FT3"])
    assert [(f.code, f.symbol) for f in res.findings] == [("FT303", "vals")]


def test_int_table_element_store_is_ft301(scan_c):
    res = scan_c(fmt_module("static int vals[4];", "    vals[1] = 2;"), select=["FT3"])
    assert [(f.code, f.symbol) for f in res.findings] == [("FT301", "vals")]


NOT_BUFFERS = {
    "stack": ("", "    char buf[64];\n" + WRITERS["snprintf"]),
    "thread_local": ("static _Thread_local char buf[64];", WRITERS["snprintf"]),
    "init_only": ("static char buf[64];", "    (void)buf;", "strcpy(buf, \"ready\");"),
    "locked": ("static char buf[64];\nstatic PyMutex mu;",
               "    PyMutex_Lock(&mu);\n" + WRITERS["snprintf"] + "\n    PyMutex_Unlock(&mu);"),
    "read_only": ("static const char buf[] = \"abc\";", "    char out[8]; memcpy(out, buf, 3);"),
}


@pytest.mark.parametrize("case", sorted(NOT_BUFFERS))
def test_not_a_shared_scratch_buffer(scan_c, case):
    assert scan_c(fmt_module(*NOT_BUFFERS[case]), select=["FT3"], parse_errors_ok=before((3, 13))).findings == []
