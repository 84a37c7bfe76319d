"""Which C functions a TU exposes to Python, and through which slot.

Read from the initialisers of static type objects, PyType_Slot arrays, method tables (PyMethodDef,
PyGetSetDef) and the number/sequence/mapping/async/buffer tables, positional or designated, plus runtime
assignments such as `FooType.tp_iternext = f`.  A PyMethodDef array counts as a type's when a type
refers to it; other PyMethodDef arrays are module functions.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis.text import blank_comments
from extmigrate.tree import CASTS, K, Node, TUView, split_args

_THROUGH = {K.UNEXPOSED_EXPR, K.PAREN_EXPR} | CASTS
_TYPE_WORDS = re.compile(r"\b(?:const|volatile|struct|static)\b|\[[^\]]*\]")
_ROW = re.compile(r"\{([^{}]*)\}")
_LAST_NAME = re.compile(r"([A-Za-z_]\w*)\W*$")
_COMMENTED_SLOT = re.compile(r"\b([A-Za-z_]\w*)\s*\)?\s*,?\s*/\*\s*(tp_\w+)\s*\*/"
                             r"|\.(tp_\w+)\s*=\s*(?:\([^()]*\)\s*)*&?([A-Za-z_]\w*)")
MODULE_METHODS = "module"  # slot name of a function in a module's PyMethodDef table


@lru_cache(maxsize=None)
def data(section: str) -> dict:
    text = resources.files("extmigrate").joinpath("data/other.toml").read_text("utf-8")
    return tomllib.loads(text)[section]


def type_name(node: Node) -> str:
    """'static const PyMethodDef[4]' -> 'PyMethodDef'; 'struct _typeobject' -> '_typeobject'."""
    return _TYPE_WORDS.sub("", node.cursor.type.spelling).strip()


def strip(tu: TUView, node: Node) -> Node:
    """Skip casts, parentheses, implicit conversions and '&' down to the expression itself."""
    while True:
        kids = tu.children_of(node)
        if node.kind in _THROUGH and kids:
            node = kids[-1]
        elif node.kind == K.UNARY_OPERATOR and kids and tu.node_text(node).lstrip().startswith("&"):
            node = kids[0]
        else:
            return node


def _fields(tu: TUView, node: Node) -> tuple[str, ...]:
    """Field names of the variable's struct type (of its element type for an array)."""
    t = node.cursor.type
    if t.spelling.rstrip().endswith("]"):
        t = t.get_array_element_type()
    t = t.get_canonical()
    cache = tu.__dict__.setdefault("_struct_fields", {})
    if t.spelling not in cache:
        decl = t.get_declaration()
        decl = decl.get_definition() or decl
        cache[t.spelling] = tuple(c.spelling for c in decl.get_children() if c.kind == K.FIELD_DECL)
    return cache[t.spelling]


_PASS_TOKENS = {"(", ")", "<", ">", "*"}


def returns_argument(fn) -> bool:
    """A one-parameter function whose body is `return <its parameter, maybe cast>;` (a cast helper
    such as `template <class T> void *void_cast(T *p) { return reinterpret_cast<void *>(p); }`)."""
    if fn is None or fn.kind not in (K.FUNCTION_DECL, K.FUNCTION_TEMPLATE, K.CXX_METHOD):
        return False
    d = fn.get_definition() or fn
    args = [a.spelling for a in d.get_arguments()]
    toks = [(t.kind.name, t.spelling) for t in d.get_tokens()]
    body = [s for _, s in toks[next((i for i, t in enumerate(toks) if t[1] == "{"), len(toks)):]]
    if len(args) != 1 or body[:2] != ["{", "return"] or body[-2:] != [";", "}"]:
        return False
    expr = toks[len(toks) - len(body) + 2:-2]
    names = [i for i, (kind, s) in enumerate(expr) if kind == "IDENTIFIER"]
    if not names or expr[names[-1]][1] != args[0]:
        return False
    after = [s for _, s in expr[names[-1] + 1:]]
    return (all(s == ")" for s in after)
            and all(kind in ("IDENTIFIER", "KEYWORD") or s in _PASS_TOKENS for kind, s in expr)
            and not any(expr[i + 1][1] == "(" for i in names[:-1] if i + 1 < len(expr)))


def _entries(tu: TUView, init: Node, fields: tuple[str, ...]):
    """(field name, value node) of a struct initialiser, positional and designated."""
    pos = 0
    for child in tu.children_of(init):
        kids = tu.children_of(child)
        if child.kind == K.UNEXPOSED_EXPR and kids and kids[0].kind == K.MEMBER_REF:
            name = kids[0].spelling
            pos = fields.index(name) if name in fields else len(fields)
            value = kids[-1]
        else:
            value = child
        yield (fields[pos] if pos < len(fields) else None), value
        pos += 1


def _initialiser_text(tu: TUView, var: Node) -> str:
    """`= { ... }` after a variable's declarator, read from the file (the AST dropped it)."""
    path, start = var.path, var.start
    text = tu.source(path)[start:start + 400_000].decode("latin-1")
    m = re.match(r"[^;={]*=\s*\{", text)
    if not m:
        return ""
    depth = 0
    for i in range(m.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[:i + 1]
    return ""


class _Collector:
    def __init__(self, tu: TUView):
        self.tu = tu
        self.vars: dict[str, Node] = {}
        for v in tu.of_kind(K.VAR_DECL):
            if v.func is None and v.cursor.is_definition():
                self.vars.setdefault(v.spelling, v)
        for v in tu.of_kind(K.VAR_DECL):  # definitions whose initialiser had errors
            if v.func is None and v.spelling not in self.vars and _initialiser_text(tu, v):
                self.vars[v.spelling] = v
        self.out: dict[str, set[str]] = {}
        self.done: set[str] = set()
        self.structs = set(data("type_slots")["structs"])
        self._funcs: set[str] | None = None

    @property
    def funcs(self) -> set[str]:
        """Names of the functions declared in the TU (only tables clang could not parse ask)."""
        if self._funcs is None:
            self._funcs = {f.spelling for f in self.tu.of_kind(K.FUNCTION_DECL, K.CXX_METHOD)}
        return self._funcs

    def add(self, func: str, slot: str) -> None:
        self.out.setdefault(func, set()).add(slot)

    def value(self, node: Node, slot: str) -> None:
        target = strip(self.tu, node)
        kids = self.tu.children_of(target)
        if target.kind == K.CALL_EXPR and len(kids) == 2 and returns_argument(target.cursor.referenced):
            target = strip(self.tu, kids[1])  # {Py_tp_methods, void_cast(Foo_methods)}
        if target.kind != K.DECL_REF_EXPR:
            return
        ref = target.cursor.referenced
        if ref is None:
            return
        if ref.kind in (K.FUNCTION_DECL, K.CXX_METHOD):  # C++: a static member function
            self.add(ref.spelling, slot)
        elif ref.kind == K.VAR_DECL and ref.spelling in self.vars:
            self.table(self.vars[ref.spelling], slot)

    def table(self, var: Node, slot: str | None = None) -> None:
        """A method/getset/number... table or a type object; slot: how the type refers to it."""
        key = f"{var.spelling}:{slot}"
        if key in self.done:
            return
        self.done.add(key)
        tname = type_name(var)
        inits = [k for k in self.tu.children_of(var) if k.kind == K.INIT_LIST_EXPR]
        if not inits:
            self.from_text(var, tname, slot)  # clang dropped an initialiser it could not check
            return
        fields = _fields(self.tu, var)
        is_array = var.cursor.type.spelling.rstrip().endswith("]")
        rows = [r for r in self.tu.children_of(inits[0]) if r.kind == K.INIT_LIST_EXPR] \
            if is_array else [inits[0]]
        for row in rows:
            if tname == "PyType_Slot":
                kids = self.tu.children_of(row)
                if len(kids) >= 2:
                    name = self.tu.node_text(kids[0]).strip()
                    self.value(kids[1], name[3:] if name.startswith("Py_") else name)
                continue
            for field, value in _entries(self.tu, row, fields):
                if field is None:
                    continue
                if tname == "PyMethodDef":
                    if field == "ml_meth":
                        self.value(value, slot or MODULE_METHODS)
                elif tname == "PyGetSetDef":
                    if field in ("get", "set"):
                        self.value(value, f"tp_getset.{field}")
                else:
                    self.value(value, field)

    def named(self, name: str, slot: str) -> None:
        if name in self.vars:
            self.table(self.vars[name], slot)
        elif name in self.funcs:
            self.add(name, slot)

    def from_text(self, var: Node, tname: str, slot: str | None) -> None:
        """The initialiser's text, for tables whose initialiser has errors (a generated header with
        the docstrings is missing): rows of method/getset/slot arrays, and for a type object the
        conventional `func, /* tp_iternext */` comments and `.tp_x = func` designators."""
        raw = _initialiser_text(self.tu, var)
        if not raw:
            return
        if tname in ("PyTypeObject", "_typeobject"):
            for m in _COMMENTED_SLOT.finditer(raw):
                self.named(m.group(1) or m.group(4), m.group(2) or m.group(3))
            return
        text = blank_comments(raw)
        body = text[text.find("{", text.find("=")) + 1:text.rfind("}")]
        for row in _ROW.findall(body):
            args = [_LAST_NAME.search(a) for a in split_args(f"({row})")]
            names = [m.group(1) if m else "" for m in args]
            if tname == "PyMethodDef" and len(names) > 1:
                self.named(names[1], slot or MODULE_METHODS)
            elif tname == "PyGetSetDef" and len(names) > 2:
                self.named(names[1], "tp_getset.get")
                self.named(names[2], "tp_getset.set")
            elif tname == "PyType_Slot" and len(names) > 1:
                self.named(names[1], names[0][3:] if names[0].startswith("Py_") else names[0])

    def runtime(self) -> None:
        """`Type.tp_iternext = f;` and `Type.tp_methods = table;` in function bodies."""
        for op in self.tu.of_kind(K.BINARY_OPERATOR):
            kids = self.tu.children_of(op)
            if len(kids) != 2 or kids[0].kind != K.MEMBER_REF_EXPR:
                continue
            field = kids[0].spelling
            if field.startswith(("tp_", "nb_", "sq_", "mp_", "am_", "bf_")):
                self.value(kids[1], field)


def exposed(tu: TUView) -> dict[str, set[str]]:
    """Function name -> the slots it is bound to ('tp_iternext', 'tp_methods', 'nb_add', 'module'...)."""
    cached = tu.__dict__.get("_exposed")
    if cached is not None:
        return cached
    c = _Collector(tu)
    for var in c.vars.values():
        tname = type_name(var)
        if tname in c.structs and tname != "PyMethodDef":
            c.table(var)
    c.runtime()
    for var in c.vars.values():  # method tables no type refers to: module functions
        if type_name(var) == "PyMethodDef" and not any(k.startswith(var.spelling + ":")
                                                        for k in c.done):
            c.table(var, MODULE_METHODS)
    tu.__dict__["_exposed"] = c.out
    return c.out


def shared_slots(slots: set[str]) -> set[str]:
    """The slots through which Python calls a function on a live, shared object (construction,
    destruction and module-function slots left out)."""
    private = set(data("type_slots")["private_slots"])
    return {s for s in slots if s != MODULE_METHODS and s not in private}
