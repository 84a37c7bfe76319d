"""FT514 set-item-foreign on real C through a real scan."""

from __future__ import annotations

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *items; PyObject *pair; } BufObject;
static PyObject *cache;

static PyObject *buf_put(BufObject *self, PyObject *args) {
    Py_ssize_t i; PyObject *v;
    if (!PyArg_ParseTuple(args, "nO", &i, &v)) return NULL;
    PyList_SET_ITEM(self->items, i, Py_NewRef(v));
    Py_RETURN_NONE;
}
static PyObject *refill(PyObject *module, PyObject *arg) {
    PyList_SET_ITEM(cache, 0, Py_NewRef(arg));
    PyObject *target;
    if (!PyArg_ParseTuple(arg, "O!", &PyList_Type, &target)) return NULL;
    PyList_SET_ITEM(target, 0, Py_NewRef(Py_None));
    PyObject *seq = PySequence_Fast(arg, "x");
    PyList_SET_ITEM(seq, 1, Py_NewRef(Py_None));
    PyObject *attr = PyObject_GetAttrString(module, "table");
    PyTuple_SET_ITEM(attr, 0, Py_NewRef(Py_None));
    Py_RETURN_NONE;
}
static PyObject *fresh(PyObject *module, PyObject *arg) {
    PyObject *res = PyList_New(2), *t;
    t = PyTuple_New(1);
    PyList_SET_ITEM(res, 0, Py_NewRef(arg));
    PyList_SET_ITEM(res, 1, t);
    PyTuple_SET_ITEM(t, 0, Py_NewRef(arg));
    BufObject *b = PyObject_New(BufObject, Py_TYPE(arg));
    b->items = PyList_New(1);
    PyList_SET_ITEM(b->items, 0, Py_NewRef(arg));
    return res;
}
static void fill(PyObject *tuple, PyObject *a) { PyTuple_SET_ITEM(tuple, 0, Py_NewRef(a)); }
static PyObject *uses_fill(PyObject *module, PyObject *arg) {
    PyObject *t = PyTuple_New(1);
    fill(t, arg);
    return t;
}
static int buf_init(BufObject *self, PyObject *args, PyObject *kw) {
    self->pair = PyTuple_New(2);
    PyTuple_SET_ITEM(self->pair, 0, Py_NewRef(Py_None));
    return 0;
}
static int mod_exec(PyObject *m) {
    cache = PyList_New(1);
    PyList_SET_ITEM(cache, 0, Py_NewRef(Py_None));
    return 0;
}
static void exec_helper(void) { PyList_SET_ITEM(cache, 0, Py_NewRef(Py_None)); }
static int mod_exec2(PyObject *m) { exec_helper(); return 0; }
static PyMethodDef buf_methods[] = {{"put", (PyCFunction)buf_put, METH_VARARGS, NULL}, {NULL}};
static PyType_Slot buf_slots[] = {{Py_tp_methods, buf_methods}, {Py_tp_init, buf_init}, {0, NULL}};
static PyMethodDef mod_methods[] = {
    {"refill", refill, METH_O, NULL}, {"fresh", fresh, METH_O, NULL},
    {"uses_fill", uses_fill, METH_O, NULL}, {NULL}};
static PyModuleDef_Slot slots[] = {{Py_mod_exec, mod_exec}, {Py_mod_exec, mod_exec2}, {0, NULL}};
"""


def test_shared_containers_only(scan_c):
    res = scan_c(CODE, select=["FT514"])
    got = [(f.function, f.data["container"]) for f in res.findings]
    assert got == [("buf_put", "self->items"), ("refill", "cache"), ("refill", "target"),
                   ("refill", "seq"), ("refill", "attr")]
    msgs = [f.message for f in res.findings]
    assert "field of self" in msgs[0]
    assert "static or global" in msgs[1]
    assert "parsed from Python" in msgs[2]
    assert "PySequence_Fast" in msgs[3]


def test_python_argument_and_set_item_function(scan_c):
    code = """
#include <Python.h>
static PyObject *clobber(PyObject *self, PyObject *lst) {
    PyList_SET_ITEM(lst, 0, Py_NewRef(Py_None));
    if (PyList_SetItem(lst, 1, Py_NewRef(Py_None)) < 0) return NULL;  /* locks the list itself */
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"clobber", clobber, METH_O, NULL}, {NULL}};
"""
    res = scan_c(code, select=["FT514"])
    assert [(f.symbol, f.line) for f in res.findings] == [("PyList_SET_ITEM", 4)]
    assert "argument lst" in res.findings[0].message


def test_fresh_list_stored_in_a_field_first(scan_c):
    code = """
#include <Python.h>
typedef struct { PyObject *list; Py_ssize_t allocated; } OutBuf;
typedef struct { PyObject_HEAD OutBuf out; PyObject *items; } Obj;
static int outbuf_init(OutBuf *buffer, PyObject *b) {
    buffer->list = PyList_New(1);
    if (buffer->list == NULL) return -1;
    PyList_SET_ITEM(buffer->list, 0, b);
    return 0;
}
static PyObject *obj_put(Obj *self, PyObject *v) {
    PyList_SET_ITEM(self->items, 0, Py_NewRef(v));
    return NULL;
}
static PyMethodDef methods[] = {{"put", (PyCFunction)obj_put, METH_O, NULL}, {NULL}};
static PyType_Slot slots[] = {{Py_tp_methods, methods}, {0, NULL}};
"""
    res = scan_c(code, select=["FT514"])
    assert [(f.function, f.data["container"]) for f in res.findings] == [("obj_put", "self->items")]
