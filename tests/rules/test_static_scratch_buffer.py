"""FT303 static-scratch-buffer on real C through a real scan."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

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
