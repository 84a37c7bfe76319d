"""FT401-FT403 fixes: allocator family switches, with every matching realloc and free."""

from __future__ import annotations

from pathlib import Path

from tests.fix.conftest import git_apply_check

VEC = """\
    #include <Python.h>
    #include <stdlib.h>

    typedef struct { PyObject_HEAD double *data; Py_ssize_t n; } Vec;

    static int vec_init(Vec *self, PyObject *args, PyObject *kw) {
        self->data = (double *)PyObject_Malloc(8 * sizeof(double));
        if (self->data == NULL) return -1;
        self->n = 8;
        return 0;
    }

    static int vec_grow(Vec *self) {
        double *p = PyObject_Realloc(self->data, 2 * self->n * sizeof(double));
        if (p == NULL) return -1;
        self->data = p;
        return 0;
    }

    static void vec_dealloc(Vec *self) {
        PyObject_Free(self->data);
        Py_TYPE(self)->tp_free((PyObject *)self);
    }

    static PyObject *scratch(PyObject *self, PyObject *arg) {
        char *buf = PyObject_Malloc(100);
        char *other = malloc(10);
        if (buf == NULL) return NULL;
        buf[0] = 0;
        PyObject_Free(buf);
        PyMem_Free(other);
        Py_RETURN_NONE;
    }
"""


def test_local_buffer_moves_with_its_free_field_needs_review(project):
    project.write({"vec.c": VEC})
    rc, diff, err = project.fix("--select", "FT401")
    assert "+    char *buf = PyMem_Malloc(100);\n" in diff and "+    PyMem_Free(buf);\n" in diff
    assert "self->data" not in diff.split("@@")[-1] or "PyMem_Malloc(8" not in diff
    assert "releases in other files are not seen" in err
    git_apply_check(project.root, diff)
    rc, diff, err = project.fix("--select", "FT401", "--unsafe-fixes")
    for line in ("+    self->data = (double *)PyMem_Malloc(8 * sizeof(double));\n",
                 "+    double *p = PyMem_Realloc(self->data, 2 * self->n * sizeof(double));\n",
                 "+    PyMem_Free(self->data);\n"):
        assert line in diff
    assert "0 left" in err  # the realloc's own finding is fixed along with the field's
    text = project.apply_and_verify("vec.c", "FT401", "--unsafe-fixes")
    assert "PyObject_Malloc" not in text and "PyObject_Realloc" not in text


def test_mismatched_free_uses_the_allocating_family(project):
    project.write({"vec.c": VEC})
    text = project.apply_and_verify("vec.c", "FT403")
    assert "    free(other);\n" in text


def test_object_moves_into_the_object_domain(project):
    project.write({"obj.c": """\
        #include <Python.h>
        typedef struct { PyObject_HEAD int x; } Obj;
        static PyTypeObject ObjType;
        static PyObject *make(PyObject *self, PyObject *arg) {
            Obj *o = (Obj *)PyMem_Malloc(sizeof(Obj));
            if (o == NULL) return PyErr_NoMemory();
            PyObject_Init((PyObject *)o, &ObjType);
            return (PyObject *)o;
        }
        static void obj_free(void *o) {
            Obj *self = (Obj *)o;
            PyMem_Free(self);
        }
    """})
    rc, diff, err = project.fix("--select", "FT402")
    assert diff == "" and "tp_free / dealloc" in err
    rc, diff, err = project.fix("--select", "FT402", "--unsafe-fixes")
    assert "+    Obj *o = (Obj *)PyObject_Malloc(sizeof(Obj));\n" in diff
    assert "+    PyObject_Free(self);\n" not in diff  # obj_free releases another variable: not followed
    project.fix("--select", "FT402", "--unsafe-fixes", "--apply")
    project.compiles_everywhere("obj.c")
    assert project.scan("--select", "FT402")[0] == 0


def test_macro_with_other_arguments_is_left_to_a_human(project):
    project.write({"m.c": """\
        #include <Python.h>
        static PyObject *f(PyObject *self, PyObject *arg) {
            double *buf = (double *)PyObject_Malloc(10 * sizeof(double));
            if (buf == NULL) return NULL;
            PyObject_Free(buf);
            double *more = PyMem_New(double, 4);
            PyObject_Free(more);
            Py_RETURN_NONE;
        }
    """})
    rc, diff, err = project.fix("--select", "FT401,FT403")
    assert "+    PyMem_Free(buf);\n" in diff
    assert "+    PyMem_Free(more);\n" in diff  # FT403: released like PyMem_New allocated it
    assert "-    double *more = PyMem_New(double, 4);\n" not in diff


def test_cxx_allocator_template_moves_with_its_deallocate(project):
    src = Path(__file__).resolve().parent.parent / "fixtures" / "alloc_object_domain_buffer"
    project.write({"alloc.cpp": (src / "cxx_allocator_template.cpp").read_text()})
    rc, diff, err = project.fix("--select", "FT401")
    assert diff == "" and "deallocate() of the same class releases what allocate() returns" in err
    rc, diff, err = project.fix("--select", "FT401", "--unsafe-fixes")
    assert "+        void *p = PyMem_Malloc(n * sizeof(T));  // expect: FT401\n" in diff
    assert "+    void deallocate(T *p, std::size_t) { PyMem_Free(p); }\n" in diff
    # returned without a variable: nothing to follow, named as such
    assert err.count("the memory is not stored in a variable or field") == 2
