"""FT202 fix: PyUnstable_Module_SetGIL right after the module is created and NULL-checked."""

from __future__ import annotations

from tests.fix.conftest import git_apply_check

CHECKED = """\
    #include <Python.h>

    static struct PyModuleDef spam_def = {PyModuleDef_HEAD_INIT, "spam", NULL, -1, NULL};

    PyMODINIT_FUNC PyInit_spam(void) {
        PyObject *m = PyModule_Create(&spam_def);
        if (m == NULL) {
            return NULL;
        }
        if (PyModule_AddIntConstant(m, "answer", 42) < 0) {
            Py_DECREF(m);
            return NULL;
        }
        return m;
    }
"""

RETURNED = """\
    #include <Python.h>

    static struct PyModuleDef spam_def = {PyModuleDef_HEAD_INIT, "spam", NULL, -1, NULL};

    PyMODINIT_FUNC PyInit_spam(void) {
        return PyModule_Create(&spam_def);
    }
"""

UNCHECKED = """\
    #include <Python.h>

    static struct PyModuleDef spam_def = {PyModuleDef_HEAD_INIT, "spam", NULL, -1, NULL};

    PyMODINIT_FUNC PyInit_spam(void) {
        PyObject *mod;
        mod = PyModule_Create(&spam_def);
        PyModule_AddIntConstant(mod, "answer", 42);
        return mod;
    }
"""

GUARD = "#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030D0000\n"


def test_after_the_null_check(project):
    project.write({"spam.c": CHECKED})
    rc, diff, err = project.fix()
    git_apply_check(project.root, diff)
    project.fix("--apply")
    text = project.read("spam.c")
    expected = ("        return NULL;\n    }\n" + GUARD
                + "    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);\n#endif\n"
                + "    if (PyModule_AddIntConstant")
    assert expected in text
    project.compiles_everywhere("spam.c")
    assert project.scan("--select", "FT202")[0] == 0
    assert project.fix()[1] == ""


def test_return_of_the_creation_gets_a_variable(project):
    project.write({"spam.c": RETURNED})
    project.fix("--apply")
    text = project.read("spam.c")
    assert "    PyObject *module = PyModule_Create(&spam_def);\n" + GUARD in text
    assert "    if (module != NULL) {\n        PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);\n" in text
    assert text.rstrip().endswith("return module;\n}")
    project.compiles_everywhere("spam.c")
    assert project.scan("--select", "FT202")[0] == 0


def test_no_null_check_guards_the_call(project):
    project.write({"spam.c": UNCHECKED})
    project.fix("--apply")
    text = project.read("spam.c")
    assert "    mod = PyModule_Create(&spam_def);\n" + GUARD + "    if (mod != NULL) {\n" in text
    project.compiles_everywhere("spam.c")


def test_creation_passed_on_is_not_rewritten(project):
    project.write({"spam.c": """\
        #include <Python.h>
        static struct PyModuleDef spam_def = {PyModuleDef_HEAD_INIT, "spam", NULL, -1, NULL};
        static PyObject *finish(PyObject *m) { return m; }
        PyMODINIT_FUNC PyInit_spam(void) { return finish(PyModule_Create(&spam_def)); }
    """})
    rc, diff, err = project.fix()
    assert diff == ""
    assert "FT202 not fixed" in err and "by hand" in err
