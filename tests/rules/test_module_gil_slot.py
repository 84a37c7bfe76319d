"""FT201 module-gil-slot on real C files, with every discovered Python's headers."""

from __future__ import annotations

import os

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

MODULE = """
#include <Python.h>

static int exec_mod(PyObject *m) { return 0; }

static PyModuleDef_Slot plain_slots[] = {
    {Py_mod_exec, exec_mod},
    {0, NULL},
};

static PyModuleDef_Slot declared_slots[] = {
    {Py_mod_exec, exec_mod},
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

/* not used by any PyModuleDef: a table of something else */
static PyModuleDef_Slot orphan_slots[] = {
    {Py_mod_exec, exec_mod},
    {0, NULL},
};

static PyModuleDef_Slot *slot_pointer = plain_slots;

static struct PyModuleDef first = {
    PyModuleDef_HEAD_INIT,
    .m_name = "first",
    .m_slots = plain_slots,
};

static PyModuleDef second = {PyModuleDef_HEAD_INIT, "second", NULL, 0, NULL, declared_slots};

PyMODINIT_FUNC PyInit_first(void) { return PyModuleDef_Init(&first); }
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_reports_only_used_slot_arrays_without_py_mod_gil(scan_c, python):
    res = scan_c(MODULE, select=["FT201"], headers=python)
    assert [(f.symbol, f.line, f.column) for f in res.findings] == [("plain_slots", 6, 25)]
    f = res.findings[0]
    assert (f.end_line, f.end_column) == (6, 25 + len("plain_slots"))
    # the fix data still spans the whole declaration
    text = open(f.path, "rb").read()[f.data["start"]:f.data["end"]].decode()
    assert text.startswith("static PyModuleDef_Slot plain_slots[] = {")
    assert text.rstrip().endswith("}")


def test_commented_out_declaration_does_not_count(scan_c):
    code = MODULE.replace("{Py_mod_exec, exec_mod},\n    {0, NULL},\n};\n\nstatic PyModuleDef_Slot declared",
                          "{Py_mod_exec, exec_mod},\n    /* {Py_mod_gil, Py_MOD_GIL_NOT_USED}, */\n"
                          "    {0, NULL},\n};\n\nstatic PyModuleDef_Slot declared", 1)
    res = scan_c(code, select=["FT201"])
    assert [f.symbol for f in res.findings] == ["plain_slots"]


def test_m_slots_assigned_at_run_time(scan_c):
    res = scan_c("""
        #include <Python.h>
        static int exec_mod(PyObject *m) { return 0; }
        static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
        static PyModuleDef def = {PyModuleDef_HEAD_INIT, "m"};
        PyMODINIT_FUNC PyInit_m(void) {
            def.m_slots = slots;
            return PyModuleDef_Init(&def);
        }
    """, select=["FT201"])
    assert [f.symbol for f in res.findings] == ["slots"]


def test_slot_array_in_another_file(scan_c):
    res = scan_c({
        "slots.c": """
            #include <Python.h>
            static int exec_mod(PyObject *m) { return 0; }
            PyModuleDef_Slot shared_slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
            static PyModuleDef_Slot local_slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
        """,
        "mod.c": """
            #include <Python.h>
            extern PyModuleDef_Slot shared_slots[];
            static PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, shared_slots};
            PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
        """,
    }, select=["FT201"])
    assert [(os.path.basename(f.path), f.symbol) for f in res.findings] == [("slots.c", "shared_slots")]


def test_entry_from_a_project_macro_counts(scan_c):
    res = scan_c({
        "compat.h": ("#ifdef Py_mod_gil\n#  define GIL_FREE_SLOT {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n"
                     "#else\n#  define GIL_FREE_SLOT\n#endif\n"),
        "mod.c": """
            #include <Python.h>
            #include "compat.h"
            static int exec_mod(PyObject *m) { return 0; }
            static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, GIL_FREE_SLOT {0, NULL}};
            static PyModuleDef_Slot other[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
            static PyModuleDef a = {PyModuleDef_HEAD_INIT, "a", NULL, 0, NULL, slots};
            static PyModuleDef b = {PyModuleDef_HEAD_INIT, "b", NULL, 0, NULL, other};
        """,
    }, select=["FT201"])
    assert [f.symbol for f in res.findings] == ["other"]


@pytest.mark.parametrize("python", PYTHONS)
def test_unguarded_entry_counts_even_where_it_does_not_compile(scan_c, python):
    # Py_mod_gil is unknown to 3.11 headers: clang drops the initializer from the declaration's extent
    res = scan_c("""
        #include <Python.h>
        static int exec_mod(PyObject *m) { return 0; }
        static PyModuleDef_Slot slots[] = {
            {Py_mod_exec, exec_mod},
            {Py_mod_gil, Py_MOD_GIL_NOT_USED},
            {0, NULL},
        };
        static PyModuleDef_Slot bare[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
        static PyModuleDef a = {PyModuleDef_HEAD_INIT, "a", NULL, 0, NULL, slots};
        static PyModuleDef b = {PyModuleDef_HEAD_INIT, "b", NULL, 0, NULL, bare};
    """, select=["FT201"], headers=python, parse_errors_ok=python.version < (3, 13))
    assert [f.symbol for f in res.findings] == ["bare"]
