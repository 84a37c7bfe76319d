"""FT514 set-item-foreign: PyList_SET_ITEM / PyTuple_SET_ITEM on a container other threads can see."""

from __future__ import annotations

import re

from clang.cindex import BinaryOperator

from extmigrate.analysis import callgraph
from extmigrate.analysis.ppbranch import gil_only
from extmigrate.analysis.selfwrites import by_function, clean_expr, params
from extmigrate.analysis.typeslots import data, exposed
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import K, Node, TUView

_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_MEMBER = re.compile(r"^([A-Za-z_]\w*)(?:->|\.)\w+")
_CALLED = re.compile(r"^([A-Za-z_][\w]*(?:->|\.)?\w*)\s*\(")


def _fresh_calls() -> set[str]:
    try:
        from extmigrate import kb
        return set(kb.load().fresh)
    except (ImportError, OSError, KeyError):  # no knowledge base: our own short list
        return set(data("set_item")["constructors"])


def _sharing_calls() -> set[str]:
    names = set(data("set_item")["sharing"])
    try:
        from extmigrate import kb
        k = kb.load()
        names |= set(k.borrowed) | k.borrowed_shared | k.same_or_tuple
    except (ImportError, OSError, KeyError):
        pass
    return names


class _Origins:
    """Where a function's local variable gets its value: 'fresh', 'new-object', 'shared: why' or None."""

    def __init__(self, tu: TUView, fn: Node):
        self.tu, self.fn = tu, fn
        self.fresh, self.sharing = _fresh_calls(), _sharing_calls()
        self.allocators = data("set_item")["allocators"]

    def sources(self, target: str) -> list[str]:
        """Texts assigned to a variable or a field path (`buffer->list`) in the function."""
        out = []
        for var in by_function(self.tu, (K.VAR_DECL,)).get(id(self.fn), []):
            kids = [k for k in self.tu.children_of(var) if k.kind != K.TYPE_REF]
            if var.spelling == target and kids:
                text = self.tu.node_text(kids[-1])
                m = re.fullmatch(rf"{re.escape(target)}\s*[({{](.*)[)}}]", text, re.S)
                out.append(m.group(1) if m else text)  # C++ `Ref t(PyTuple_New(2))`: its argument
        for op in by_function(self.tu, (K.BINARY_OPERATOR,)).get(id(self.fn), []):
            kids = self.tu.children_of(op)
            if (len(kids) == 2 and op.cursor.binary_operator == BinaryOperator.Assign
                    and clean_expr(self.tu.node_text(kids[0])) == target):
                out.append(self.tu.node_text(kids[1]))
        return out

    def classify(self, expr: str) -> str | None:
        e = clean_expr(expr)
        if any(re.search(rf"\b{a}\b", e) for a in self.allocators):
            return "new-object"
        m = _CALLED.match(e)
        if m:
            called = m.group(1)
            if called in self.fresh:
                return "fresh"
            if called in self.sharing:
                return f"shared: it comes from {called}(), an object other code holds"
            return None
        m = _MEMBER.match(e)
        if m:
            return f"shared: it is read from {e}, a field other threads can reach"
        return None

    def of(self, name: str) -> list[str | None]:
        return [self.classify(s) for s in self.sources(name)]

    def parsed_from_args(self, name: str) -> bool:
        """`PyArg_ParseTuple(args, "O", &name)`: the container is the caller's."""
        for use in self.tu.uses_of(*callgraph.data("writes")["varargs_out"]):
            if use.func is self.fn and any(clean_expr(a) == f"&{name}" for a in use.args[1:]):
                return True
        return False


def _unwrapped(e: str) -> str:
    """C++ `ref.get()` of an owning wrapper (KB wrapper_getters): the local that holds the pointer."""
    try:
        from extmigrate import kb
        getters = kb.load().wrapper_getters
    except (ImportError, OSError, KeyError):
        return e
    m = re.fullmatch(r"([A-Za-z_]\w*)\s*\.\s*(\w+)\s*\(\s*\)", e)
    return m.group(1) if m and m.group(2) in getters else e


def _global(tu: TUView, fn: Node, name: str) -> bool:
    for var in by_function(tu, (K.VAR_DECL,)).get(id(fn), []):
        if var.spelling == name:
            return "static" in tu.text(var.path, var.start, var.end).split("=")[0].split()
    return any(v.spelling == name and v.func is None for v in tu.of_kind(K.VAR_DECL))


def why_shared(tu: TUView, fn: Node, container: str) -> str | None:
    """Why the container written to can be seen by other threads, or None (fresh or unknown)."""
    origins = _Origins(tu, fn)
    e = clean_expr(container)
    e = _unwrapped(e)
    m = _MEMBER.match(e)
    if m:
        base = m.group(1)
        kinds = origins.of(base) + origins.of(e)  # a new object, or a fresh list stored in the field
        if "new-object" in kinds or "fresh" in kinds:
            return None
        private = set(data("type_slots")["private_slots"])
        slots = exposed(tu).get(fn.spelling, set())
        if slots and slots <= private:
            return None  # tp_new / tp_init / tp_dealloc: the object is not shared
        return f"it is a field of {base}, which other threads can reach"
    if not _IDENT.match(e):
        return None
    if e in {p.spelling for p in params(tu, fn)}:
        if fn.spelling in exposed(tu):
            return f"it is the argument {e}, passed in from Python"
        return None  # a helper's parameter: usually the caller's fresh container
    if _global(tu, fn, e):
        return f"{e} is a static or global variable, shared by every thread"
    kinds = origins.of(e)
    if "fresh" in kinds or "new-object" in kinds:
        return None
    if origins.parsed_from_args(e):
        return f"{e} is an argument parsed from Python"
    shared = [k for k in kinds if k and k.startswith("shared: ")]
    return shared[0][len("shared: "):] if shared else None


@register
class SetItemForeign(Rule):
    code = "FT514"
    name = "set-item-foreign"
    category = "other"
    severity = "warning"
    summary = "PyList_SET_ITEM / PyTuple_SET_ITEM on a container the function did not create"
    explanation = ("The SET_ITEM macros store into the item array with no check and no lock; they are "
                   "only meant to fill a container nobody else can see yet. On a list or tuple that "
                   "other threads can reach, the store races with their reads and resizes, and the "
                   "replaced item is leaked or read after it is freed.")
    action = ("Fill containers you just created with SET_ITEM; to change a shared list use "
              "PyList_SetItem (it locks the list on free-threaded builds), or build a new container "
              "and swap it in.")
    doc = """
    Reports `PyList_SET_ITEM` and `PyTuple_SET_ITEM` whose container is a field of an object
    (`self->items`), a static or global variable, an argument of a Python-callable function, or a
    local obtained from an existing object (`PyObject_GetAttr`, `PyDict_GetItem`,
    `PySequence_Fast`, `PyArg_ParseTuple` ...). Containers the function created (`PyList_New`,
    `PyTuple_New`, the knowledge base's fresh-container APIs), fields of an object it just allocated,
    construction slots (`tp_new`, `tp_init`), helpers' parameters (normally the caller's fresh
    container) and code only run during module initialisation are not findings.

    Before:

        static PyObject *
        buf_put(BufObject *self, PyObject *args)
        {
            ...
            Py_XDECREF(PyList_GET_ITEM(self->items, i));
            PyList_SET_ITEM(self->items, i, Py_NewRef(value));
            Py_RETURN_NONE;
        }

    After:

        static PyObject *
        buf_put(BufObject *self, PyObject *args)
        {
            ...
            if (PyList_SetItem(self->items, i, Py_NewRef(value)) < 0)
                return NULL;
            Py_RETURN_NONE;
        }
    """

    def collect(self, tu: TUView) -> dict:
        hits = []
        for use in tu.uses_of(*data("set_item")["macros"]):
            if use.func is None or len(use.args) != 3 or gil_only(tu, use.path, use.start):
                continue
            why = why_shared(tu, use.func, use.args[0])
            if why is None:
                continue
            container = clean_expr(use.args[0])
            f = self.finding(use, use.name, f"{use.name}({container}, ...) writes into a container other "
                             f"threads can see: {why}",
                             data={"container": container,
                                   "function_key": callgraph.node_key(tu, use.func)})
            hits.append(f.to_dict())
        return {"calls": callgraph.collect(tu), "hits": hits}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return [Finding.from_dict(d) for d in callgraph.hits_after_init(facts)]
