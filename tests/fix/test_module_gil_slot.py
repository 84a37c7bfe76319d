"""FT201 fix: {Py_mod_gil, Py_MOD_GIL_NOT_USED} before the terminator, guarded by #ifdef Py_mod_gil."""

from __future__ import annotations

import pytest

from tests.fix.conftest import git_apply_check

MODULE = """\
    #include <Python.h>

    static int spam_exec(PyObject *m) { return 0; }

    static PyModuleDef_Slot spam_slots[] = {
        {Py_mod_exec, spam_exec},
        {0, NULL},
    };

    static struct PyModuleDef spam_def = {
        PyModuleDef_HEAD_INIT, "spam", NULL, 0, NULL, spam_slots,
    };

    PyMODINIT_FUNC PyInit_spam(void) { return PyModuleDef_Init(&spam_def); }
"""


def test_dry_run_prints_a_diff_that_applies(project):
    project.write({"spam.c": MODULE})
    rc, diff, err = project.fix()
    assert rc == 1
    assert "+#ifdef Py_mod_gil\n+    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n+#endif\n" in diff
    assert diff.index("+#ifdef Py_mod_gil") < diff.index(" {0, NULL},")
    assert "--- a/spam.c\n+++ b/spam.c\n" in diff
    git_apply_check(project.root, diff)
    assert "Py_mod_gil" not in project.read("spam.c")  # a dry run writes nothing


def test_apply_compiles_rescans_clean_and_is_idempotent(project):
    project.write({"spam.c": MODULE})
    rc, out, err = project.fix("--apply")
    assert out == ""
    assert "1 finding(s) fixed" in err
    project.compiles_everywhere("spam.c")
    rc, report = project.scan("--select", "FT201")
    assert rc == 0, report
    first = project.read("spam.c")
    rc, diff, err = project.fix()
    assert (rc, diff) == (0, "")
    assert project.read("spam.c") == first


def test_terminator_on_the_same_line(project):
    project.write({"spam.c": MODULE.replace(
        "{\n        {Py_mod_exec, spam_exec},\n        {0, NULL},\n    };",
        "{{Py_mod_exec, spam_exec}, {0, NULL}};")})
    project.fix("--apply")
    text = project.read("spam.c")
    assert "{Py_mod_exec, spam_exec}, \n#ifdef Py_mod_gil\n{Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#endif\n" in text
    project.compiles_everywhere("spam.c")


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_newline_style_is_kept(project, newline):
    project.write({"spam.c": MODULE}, newline=newline)
    project.fix("--apply")
    raw = (project.root / "spam.c").read_bytes()
    assert b"#ifdef Py_mod_gil" + newline.encode() in raw
    if newline == "\r\n":
        assert raw.count(b"\n") == raw.count(b"\r\n")
    else:
        assert b"\r" not in raw


def test_blocked_by_unresolved_findings_unless_declare(project):
    project.write({"spam.c": MODULE, "state.c": """\
        #include <Python.h>
        static int mode;
        static PyObject *set_mode(PyObject *self, PyObject *arg) {
            mode = (int)PyLong_AsLong(arg);
            Py_RETURN_NONE;
        }
        static PyMethodDef state_methods[] = {{"set_mode", set_mode, METH_O, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT201,FT3")
    blocked = [ln for ln in err.splitlines() if "FT201 not fixed" in ln]
    assert blocked and "left are races that block it" in blocked[0] and "FT30" in blocked[0]
    assert "Py_mod_gil" not in diff
    rc, diff, err = project.fix("--select", "FT201,FT3", "--declare")
    assert "+    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n" in diff
