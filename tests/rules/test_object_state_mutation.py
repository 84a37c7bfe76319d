"""FT510 object-state-mutation on real C through a real scan."""

from __future__ import annotations

from tests.conftest import before, header_pythons

HEAD = """
#include <Python.h>
#include <string.h>
typedef struct { PyObject_HEAD Py_ssize_t i, n; char buf[16]; PyObject *cache; } CounterObject;
"""

STATIC_TYPE = HEAD + """
static PyObject *counter_next(CounterObject *self) {
    if (self->i >= self->n) return NULL;
    return PyLong_FromSsize_t(self->i++);
}
static PyObject *counter_reset(PyObject *op, PyObject *arg) {
    CounterObject *c = (CounterObject *)op;
    c->i = 0;
    memcpy(c->buf, "reset", 6);
    Py_XSETREF(c->cache, Py_NewRef(arg));
    Py_RETURN_NONE;
}
static PyObject *counter_peek(CounterObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->i);
}
static PyObject *counter_new(PyTypeObject *t, PyObject *a, PyObject *k) {
    CounterObject *self = (CounterObject *)t->tp_alloc(t, 0);
    if (self) { self->i = 0; self->n = 10; }
    return (PyObject *)self;
}
static int counter_init(CounterObject *self, PyObject *a, PyObject *k) { self->n = 5; return 0; }
static void counter_dealloc(CounterObject *self) { Py_CLEAR(self->cache); Py_TYPE(self)->tp_free(self); }
static PyMethodDef counter_methods[] = {
    {"reset", (PyCFunction)counter_reset, METH_O, NULL},
    {"peek", (PyCFunction)counter_peek, METH_NOARGS, NULL},
    {NULL}
};
static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    "m.Counter",
    sizeof(CounterObject),
    0,
    (destructor)counter_dealloc,
    .tp_iternext = (iternextfunc)counter_next,
    .tp_methods = counter_methods,
    .tp_new = counter_new,
    .tp_init = (initproc)counter_init,
};
static PyObject *module_func(PyObject *module, PyObject *arg) {
    CounterObject *c = (CounterObject *)arg;
    c->n = 3;
    Py_RETURN_NONE;
}
static PyMethodDef module_methods[] = {{"f", module_func, METH_O, NULL}, {NULL}};
"""


def test_static_type_methods_that_write_self(scan_c):
    res = scan_c(STATIC_TYPE, select=["FT510"])
    by_func = {f.symbol: f for f in res.findings}
    assert sorted(by_func) == ["counter_next", "counter_reset"]
    nxt = by_func["counter_next"]
    assert nxt.data["fields"] == ["i"] and "tp_iternext" in nxt.message
    assert nxt.line == 8
    reset = by_func["counter_reset"]
    # the alias c of self, a memcpy into a field and a reference swap all count
    assert reset.data["fields"] == ["i", "buf", "cache"]
    assert [s.line for s in reset.related] == [12, 13, 14]
    assert "c->cache" in reset.related[2].note


def test_critical_section_and_lock_guard_the_writes(scan_c):
    code = HEAD + """
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
static PyMutex lock;
static PyObject *next_cs(CounterObject *self) {
    PyObject *res = NULL;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->i < self->n) res = PyLong_FromSsize_t(self->i++);
    Py_END_CRITICAL_SECTION();
    return res;
}
static PyObject *next_other_cs(CounterObject *self, PyObject *other) {
    Py_BEGIN_CRITICAL_SECTION(other);
    self->i++;
    Py_END_CRITICAL_SECTION();
    return NULL;
}
static PyObject *next_lock(CounterObject *self, PyObject *o) {
    PyMutex_Lock(&lock);
    self->i++;
    PyMutex_Unlock(&lock);
    return NULL;
}
static PyType_Slot slots[] = {
    {Py_tp_iternext, next_cs},
    {Py_nb_add, next_other_cs},
    {Py_sq_concat, next_lock},
    {0, NULL},
};
"""
    res = scan_c(code, select=["FT510"], parse_errors_ok=before((3, 13)))
    # a critical section on another object does not protect self
    assert [f.symbol for f in res.findings] == ["next_other_cs"]


def test_spec_slots_getset_and_atomic_fields(scan_c):
    code = """
#include <Python.h>
#include <stdatomic.h>
typedef struct { PyObject_HEAD _Atomic long hits; long size; PyObject *name; } Obj;
static PyObject *obj_get_name(Obj *self, void *c) { self->hits++; return Py_NewRef(self->name); }
static int obj_set_name(Obj *self, PyObject *v, void *c) {
    Py_SETREF(self->name, Py_NewRef(v));
    return 0;
}
static Py_ssize_t obj_len(Obj *self) { return self->size; }
static PyObject *obj_copy(Obj *self, PyObject *unused) {
    Obj *fresh = PyObject_New(Obj, Py_TYPE(self));
    fresh->size = self->size;
    fresh->name = Py_NewRef(self->name);
    return (PyObject *)fresh;
}
static int obj_clear(Obj *self) { Py_CLEAR(self->name); return 0; }
static PyGetSetDef obj_getset[] = {{"name", (getter)obj_get_name, (setter)obj_set_name, NULL, NULL}, {NULL}};
static PyMethodDef obj_methods[] = {{"copy", (PyCFunction)obj_copy, METH_NOARGS, NULL}, {NULL}};
static PyType_Slot obj_slots[] = {
    {Py_tp_getset, obj_getset},
    {Py_tp_methods, obj_methods},
    {Py_sq_length, obj_len},
    {Py_tp_clear, obj_clear},
    {0, NULL},
};
static PyType_Spec obj_spec = {"m.Obj", sizeof(Obj), 0, Py_TPFLAGS_DEFAULT, obj_slots};
"""
    res = scan_c(code, select=["FT510"])
    # the _Atomic counter, the fresh copy and tp_clear are not findings
    assert [(f.symbol, f.data["fields"]) for f in res.findings] == [("obj_set_name", ["name"])]
    assert "tp_getset.set" in res.findings[0].message


def test_methods_defined_in_another_file(scan_c):
    header = """
#include <Python.h>
typedef struct { PyObject_HEAD int state; } Curl;
PyObject *curl_perform(Curl *self, PyObject *unused);
"""
    res = scan_c({
        "obj.h": header,
        "type.c": """
#include "obj.h"
static PyMethodDef curl_methods[] = {{"perform", (PyCFunction)curl_perform, METH_NOARGS, NULL}, {NULL}};
PyTypeObject Curl_Type = {PyVarObject_HEAD_INIT(NULL, 0) "m.Curl", .tp_methods = curl_methods};
""",
        "perform.c": """
#include "obj.h"
PyObject *curl_perform(Curl *self, PyObject *unused) { self->state = 1; Py_RETURN_NONE; }
void curl_reset(Curl *self) { self->state = 0; }  /* no type names it */
""",
    }, select=["FT510"])
    assert [(f.symbol, f.path.rsplit("/", 1)[-1], f.data["slots"]) for f in res.findings] == [
        ("curl_perform", "perform.c", ["tp_methods"])]


def test_stores_into_a_data_buffer_are_not_object_state(scan_c):
    code = """
#include <Python.h>
#include <string.h>
typedef struct { PyObject_HEAD char *data; Py_ssize_t size; PyObject **items; char tag[4]; } Buf;
static int buf_ass_item(Buf *self, Py_ssize_t i, PyObject *v) {
    self->data[i] = (char)PyLong_AsLong(v);   /* the buffer's contents: not reported */
    memcpy(self->data + i, "ab", 2);           /* neither */
    return 0;
}
static int buf_ass_sub(Buf *self, PyObject *k, PyObject *v) {
    Py_XSETREF(self->items[0], Py_NewRef(v));   /* a reference the object owns */
    self->tag[0] = 'x';                          /* an inline array field */
    memcpy(self->tag, "ab", 2);
    return 0;
}
static PySequenceMethods buf_as_sequence = {.sq_ass_item = (ssizeobjargproc)buf_ass_item};
static PyMappingMethods buf_as_mapping = {.mp_ass_subscript = (objobjargproc)buf_ass_sub};
"""
    res = scan_c(code, select=["FT510"])
    assert [(f.symbol, f.data["fields"]) for f in res.findings] == [("buf_ass_sub", ["items", "tag"])]


def test_project_lock_macro_guards_the_writes(scan_c):
    code = """
#include <Python.h>
typedef struct { PyObject_HEAD PyThread_type_lock lock; long n; } Obj;
#define ENTER(o) PyThread_acquire_lock((o)->lock, 1)
#define LEAVE(o) PyThread_release_lock((o)->lock)
static PyObject *obj_bump(Obj *self, PyObject *unused) {
    ENTER(self);
    if (self->n < 0) { LEAVE(self); return NULL; }
    self->n++;
    LEAVE(self);
    self->n--;
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"bump", (PyCFunction)obj_bump, METH_NOARGS, NULL}, {NULL}};
static PyType_Slot slots[] = {{Py_tp_methods, methods}, {0, NULL}};
"""
    res = scan_c(code, select=["FT510"])
    # only the decrement after LEAVE() is unguarded
    assert [(f.symbol, [s.line for s in f.related]) for f in res.findings] == [("obj_bump", [11])]


def test_writes_in_a_helper_the_method_passes_self_to(scan_c):
    code = """
#include <Python.h>
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
typedef struct { PyObject_HEAD long evictions; long size; } Cache;
static int evict(Cache *c) { c->evictions++; return 0; }
static int shrink(Cache *c) { c->size--; return evict(c); }
static PyObject *cache_put(Cache *self, PyObject *v) {
    if (shrink(self) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *cache_put_locked(Cache *self, PyObject *v) {
    Py_BEGIN_CRITICAL_SECTION(self);
    shrink(self);
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
}
static PyObject *cache_other(Cache *self, PyObject *v) {
    evict((Cache *)v);  /* another object: not self's state */
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {
    {"put", (PyCFunction)cache_put, METH_O, NULL},
    {"put_locked", (PyCFunction)cache_put_locked, METH_O, NULL},
    {"other", (PyCFunction)cache_other, METH_O, NULL},
    {NULL}};
static PyType_Slot slots[] = {{Py_tp_methods, methods}, {0, NULL}};
"""
    res = scan_c(code, select=["FT510"])
    assert [(f.symbol, f.line, f.data["fields"]) for f in res.findings] == [
        ("cache_put", 11, ["size", "evictions"])]
    assert res.findings[0].data["helpers"] == ["evict", "shrink"]
    assert [(s.line, s.note) for s in res.findings[0].related] == [
        (9, "writes c->size (in shrink, called with self)"),
        (8, "writes c->evictions (in evict, called with self)")]


def test_lock_macro_wrapping_another_lock_macro_guards_helper_writes(scan_c):
    # Reduced from pycurl's CurlShare.close(): SHARE_LOCK(s) expands to MUTEX_LOCK(&s->lock), itself
    # PyMutex_Lock or PyThread_acquire_lock depending on the Python version; the helper's writes
    # happen under it. A close() that calls the helper after unlocking is still reported.
    code = """
#include <Python.h>
#if PY_VERSION_HEX >= 0x030D0000
typedef PyMutex mutex_t;
#  define MUTEX_LOCK(p)   PyMutex_Lock(p)
#  define MUTEX_UNLOCK(p) PyMutex_Unlock(p)
#else
typedef PyThread_type_lock mutex_t;
#  define MUTEX_LOCK(p)   PyThread_acquire_lock(*(p), 1)
#  define MUTEX_UNLOCK(p) PyThread_release_lock(*(p))
#endif
#define SHARE_LOCK(s)   MUTEX_LOCK(&(s)->lock)
#define SHARE_UNLOCK(s) MUTEX_UNLOCK(&(s)->lock)
typedef struct { PyObject_HEAD mutex_t lock; void *handle; } Share;
static void share_close_handle(Share *self) {
    if (self->handle != NULL) {
        PyMem_Free(self->handle);
        self->handle = NULL;
    }
}
static PyObject *share_close(Share *self, PyObject *unused) {
    SHARE_LOCK(self);
    if (self->handle == (void *)1) {
        SHARE_UNLOCK(self);
        return PyErr_Format(PyExc_RuntimeError, "in use");
    }
    share_close_handle(self);
    SHARE_UNLOCK(self);
    Py_RETURN_NONE;
}
static PyObject *share_reset(Share *self, PyObject *unused) {
    SHARE_LOCK(self);
    SHARE_UNLOCK(self);
    share_close_handle(self);
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"close", (PyCFunction)share_close, METH_NOARGS, NULL},
                                {"reset", (PyCFunction)share_reset, METH_NOARGS, NULL}, {NULL}};
static PyType_Slot slots[] = {{Py_tp_methods, methods}, {0, NULL}};
"""
    for headers in header_pythons():
        res = scan_c(code, select=["FT510"], headers=headers)
        assert [f.symbol for f in res.findings] == ["share_reset"], headers.id


def test_gil_only_branch_and_lock_of_an_owned_object(scan_c):
    code = """
#include <Python.h>
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
typedef struct { PyObject_HEAD PyObject *md; Py_ssize_t pos; } Iter;
static int step(Iter *it) { it->pos++; return 0; }
static PyObject *iter_next(Iter *self) {
    Py_BEGIN_CRITICAL_SECTION(self->md);   /* every writer of pos locks the iterated object */
    step(self);
    Py_END_CRITICAL_SECTION();
    return NULL;
}
static PyObject *iter_skip(Iter *self, PyObject *n) {
#ifdef Py_GIL_DISABLED
    Py_BEGIN_CRITICAL_SECTION(self);
    step(self);
    Py_END_CRITICAL_SECTION();
#else
    step(self);                            /* only GIL builds compile this */
#endif
    Py_RETURN_NONE;
}
static PyObject *iter_reset(Iter *self, PyObject *n) { self->pos = 0; Py_RETURN_NONE; }
static PyMethodDef methods[] = {{"skip", (PyCFunction)iter_skip, METH_O, NULL},
                                {"reset", (PyCFunction)iter_reset, METH_O, NULL}, {NULL}};
static PyType_Slot slots[] = {{Py_tp_iternext, iter_next}, {Py_tp_methods, methods}, {0, NULL}};
"""
    res = scan_c(code, select=["FT510"])
    assert [f.symbol for f in res.findings] == ["iter_reset"]


CONTAINERS = """
#include <Python.h>
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
typedef struct { PyObject_HEAD PyObject *data; PyObject *order; Py_ssize_t hits; } Cache;
static int unlink_key(Cache *c, PyObject *k) {
    PyObject *order = c->order;
    return PySequence_DelItem(order, 0);
}
static PyObject *cache_put(Cache *self, PyObject *k) {
    if (PyList_Append(self->order, k) < 0) return NULL;
    if (PyDict_SetItem(self->data, k, Py_None) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *cache_drop(Cache *self, PyObject *k) {
    if (PyDict_DelItem(self->data, k) < 0 || unlink_key(self, k) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *cache_note(Cache *self, PyObject *k) {
    self->hits++;
    if (PySet_Add(self->data, k) < 0) return NULL;
    Py_RETURN_NONE;
}
static PyObject *cache_remember(Cache *self, PyObject *k) {
    PyObject *tmp = PyList_New(0);      /* its own list: not self's state */
    if (tmp == NULL || PyList_Append(tmp, k) < 0) return NULL;
    if (PyList_Append(self->order, k) < 0) return NULL;   /* one container: it locks itself */
    Py_DECREF(tmp);
    Py_RETURN_NONE;
}
static PyObject *cache_clear(Cache *self, PyObject *unused) {
    int rc;
    Py_BEGIN_CRITICAL_SECTION(self);
    PyDict_Clear(self->data);
    rc = PyList_SetSlice(self->order, 0, PY_SSIZE_T_MAX, NULL);
    Py_END_CRITICAL_SECTION();
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}
static int cache_init(Cache *self, PyObject *args, PyObject *kw) {
    if (PyDict_SetItemString(self->data, "x", Py_None) < 0) return -1;
    return PyList_Append(self->order, Py_None);
}
static PyMethodDef methods[] = {
    {"put", (PyCFunction)cache_put, METH_O, NULL},
    {"drop", (PyCFunction)cache_drop, METH_O, NULL},
    {"note", (PyCFunction)cache_note, METH_O, NULL},
    {"remember", (PyCFunction)cache_remember, METH_O, NULL},
    {"clear", (PyCFunction)cache_clear, METH_NOARGS, NULL},
    {NULL}};
static PyType_Slot slots[] = {{Py_tp_methods, methods}, {Py_tp_init, cache_init}, {0, NULL}};
"""


def test_changes_to_several_containers_held_in_fields(scan_c):
    res = scan_c(CONTAINERS, select=["FT510"])
    by_func = {f.symbol: f for f in res.findings}
    # remember: one container only; clear: under a critical section on self; init: not shared yet
    assert sorted(by_func) == ["cache_drop", "cache_note", "cache_put"]
    put = by_func["cache_put"]
    assert put.data["containers"] == ["order", "data"] and put.data["fields"] == []
    assert [(s.line, s.note) for s in put.related] == [
        (13, "PyList_Append(self->order)"), (14, "PyDict_SetItem(self->data)")]
    assert "self->order, self->data" in put.message and "tp_methods" in put.message
    drop = by_func["cache_drop"]
    # the helper changes the list through a local loaded from the field
    assert [(s.line, s.note) for s in drop.related] == [
        (18, "PyDict_DelItem(self->data)"),
        (10, "PySequence_DelItem(c->order) (in unlink_key, called with self)")]
    note = by_func["cache_note"]
    assert note.data["fields"] == ["hits"] and note.data["containers"] == ["data"]
    assert [s.line for s in note.related] == [22, 23]
