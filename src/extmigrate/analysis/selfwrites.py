"""Writes a function makes to the fields of the object its first parameter points to.

`self->n = 1`, `self->n++`, `self->buf[i] = c`, `*self->p = v`, `memcpy(self->buf, ...)`,
`Py_XSETREF(self->x, v)`, also through a local alias such as `FooObject *f = (FooObject *)self;`.
Stores to fields whose type is atomic are left out. Also the changes made through C-API calls to
containers held in the fields (`PyList_Append(self->order, k)`, also through `PyObject *o = self->order;`):
each of those is a Write with `api` set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clang.cindex import TypeKind

from extmigrate import cursors
from extmigrate.analysis.callgraph import data as state_data
from extmigrate.analysis.typeslots import data as other_data
from extmigrate.analysis.typeslots import strip
from extmigrate.tree import CASTS, K, Node, TUView

_CAST = re.compile(r"\(\s*(?:struct\s+|const\s+)*\w+\s*\*+\s*\)")
_SELF_FIELD = re.compile(r"^&?\(*(\w+)\)*->(\w+)")
_PLAIN_FIELD = re.compile(r"^(\w+)->(\w+)$")


@dataclass(frozen=True)
class Write:
    field: str
    via: str  # the name written through: the parameter or its alias
    start: int
    line: int
    column: int
    api: str = ""  # the C-API call that changes the container held in the field, if that is the write


def params(tu: TUView, fn: Node) -> list[Node]:
    return [k for k in tu.children_of(fn) if k.kind == K.PARM_DECL]


def by_function(tu: TUView, kinds: tuple) -> dict[int, list[Node]]:
    """Nodes of the kinds grouped by enclosing function (cached per kind set)."""
    cache = tu.__dict__.setdefault("_by_function", {})
    if kinds not in cache:
        groups: dict[int, list[Node]] = {}
        for n in tu.of_kind(*kinds):
            if n.func is not None:
                groups.setdefault(id(n.func), []).append(n)
        cache[kinds] = groups
    return cache[kinds]


def _refers_to(tu: TUView, node: Node, names: set[str]) -> bool:
    target = strip(tu, node)
    return target.kind == K.DECL_REF_EXPR and target.spelling in names


def aliases(tu: TUView, fn: Node, name: str) -> set[str]:
    """The parameter's name and the locals assigned from it (through casts)."""
    names = {name}
    for var in by_function(tu, (K.VAR_DECL,)).get(id(fn), []):
        kids = tu.children_of(var)
        if kids and _refers_to(tu, kids[-1], names):
            names.add(var.spelling)
    for op in by_function(tu, (K.BINARY_OPERATOR,)).get(id(fn), []):
        kids = tu.children_of(op)
        if (len(kids) == 2 and kids[0].kind == K.DECL_REF_EXPR
                and cursors.binary_op(op.cursor) == cursors.ASSIGN and _refers_to(tu, kids[1], names)):
            names.add(kids[0].spelling)
    return names


def _atomic(field_cursor) -> bool:
    spelling = field_cursor.type.spelling if field_cursor is not None else ""
    return any(m in spelling for m in state_data("atomics")["type_markers"])


def _field_of(tu: TUView, lhs: Node, names: set[str]) -> tuple[str, str] | None:
    """(field path, name) when the stored-to lvalue is a field of `name->` (or inside one):
    ('pos.x', 'self') for self->pos.x, ('multi->state', 'self') for self->multi->state."""
    node, member, stored, path = lhs, None, None, []
    while True:
        kids = tu.children_of(node)
        if node.kind == K.MEMBER_REF_EXPR and kids:
            member, node = node, kids[0]
            stored = stored or member
            arrow = kids[0].cursor.type.get_canonical().kind == TypeKind.POINTER
            path.insert(0, ("->" if arrow else ".") + member.spelling)
        elif node.kind in (K.ARRAY_SUBSCRIPT_EXPR, K.UNARY_OPERATOR) and kids:
            if member is None and _into_data_buffer(tu, lhs, kids[0]):
                return None
            node = kids[0]
        elif (node.kind in (K.PAREN_EXPR, K.UNEXPOSED_EXPR) or node.kind in CASTS) and kids:
            node = kids[-1]
        else:
            break
    if member is None or node.kind != K.DECL_REF_EXPR or node.spelling not in names:
        return None
    if _atomic(stored.cursor.referenced):
        return None
    return re.sub(r"^(->|\.)", "", "".join(path)), node.spelling


def _into_data_buffer(tu: TUView, lhs: Node, base: Node) -> bool:
    """`self->data[i] = c` / `*self->p = c`: a plain value stored through a pointer field is the
    contents of a data buffer (like numpy or bytearray memory), not the object's bookkeeping; an
    inline array field or a stored pointer (`self->items[i] = obj`) is the object's state."""
    if lhs.cursor.type.get_canonical().kind == TypeKind.POINTER:
        return False
    target = strip(tu, base)
    return (target.kind == K.MEMBER_REF_EXPR
            and target.cursor.type.get_canonical().kind == TypeKind.POINTER)


def _is_increment(tu: TUView, op: Node) -> bool:
    text = tu.node_text(op).strip()
    return text.startswith(("++", "--")) or text.endswith(("++", "--"))


def clean_expr(expr: str) -> str:
    """'( (PyObject *) self->items )' -> 'self->items': casts, spaces and outer parentheses dropped."""
    e = re.sub(r"\s+", "", _CAST.sub("", expr))
    while e.startswith("(") and e.endswith(")"):
        e = e[1:-1]
    return e


def arg_field(arg: str, names: set[str]) -> tuple[str, str] | None:
    """'(char *)&((Foo *)self)->buf[2]' -> ('buf', 'self') when self is one of the names."""
    m = _SELF_FIELD.match(clean_expr(arg))
    if m and m.group(1) in names:
        return m.group(2), m.group(1)
    return None


def _writing_calls(tu: TUView) -> dict:
    """Calls and macros that store into their first argument, grouped by function (cached)."""
    cache = tu.__dict__.get("_writing_calls")
    if cache is None:
        w = state_data("writes")
        cache = {}
        for use in tu.uses_of(*w["copy_into_first"], *w["assigning_macros"]):
            if use.func is not None:
                cache.setdefault(id(use.func), []).append(use)
        tu.__dict__["_writing_calls"] = cache
    return cache


def field_writes(tu: TUView, fn: Node, names: set[str]) -> list[Write]:
    """Every store into a field reached through one of the names, in source order."""
    found: dict[tuple[str, int], Write] = {}

    def add(field: str, via: str, where) -> None:
        if isinstance(where, Node):
            _, start, _, line, col = where.extent()[:5]
        else:
            start, line, col = where.start, where.line, where.column
        found.setdefault((field, start), Write(field, via, start, line, col))

    kinds = (K.BINARY_OPERATOR, K.COMPOUND_ASSIGNMENT_OPERATOR, K.UNARY_OPERATOR)
    for op in by_function(tu, kinds).get(id(fn), []):
        kids = tu.children_of(op)
        if not kids:
            continue
        if op.kind == K.BINARY_OPERATOR and cursors.binary_op(op.cursor) != cursors.ASSIGN:
            continue
        if op.kind == K.UNARY_OPERATOR and not _is_increment(tu, op):
            continue
        hit = _field_of(tu, kids[0], names)
        if hit:
            add(hit[0], hit[1], op)
    copies = set(state_data("writes")["copy_into_first"])
    for use in _writing_calls(tu).get(id(fn), []):
        if use.args:
            hit = arg_field(use.args[0], names)
            if hit and not (use.name in copies and _copies_into_pointee(tu, fn, use, hit[0])):
                add(hit[0], hit[1], use)
    return sorted(found.values(), key=lambda x: x.start)


def field_aliases(tu: TUView, fn: Node, names: set[str]) -> dict[str, tuple[str, str]]:
    """Locals loaded from a field of the object: `PyObject *o = self->order;` -> {'o': ('order', 'self')}.
    A local that is also given any other value is left out."""
    found: dict[str, tuple[str, str]] = {}
    other: set[str] = set()

    def note(var: str, value: Node) -> None:
        m = _PLAIN_FIELD.match(clean_expr(tu.node_text(value)))
        if m and m.group(1) in names:
            found.setdefault(var, (m.group(2), m.group(1)))
        else:
            other.add(var)

    for var in by_function(tu, (K.VAR_DECL,)).get(id(fn), []):
        kids = tu.children_of(var)
        if kids and kids[-1].kind.is_expression():
            note(var.spelling, kids[-1])
    for op in by_function(tu, (K.BINARY_OPERATOR,)).get(id(fn), []):
        kids = tu.children_of(op)
        if (len(kids) == 2 and kids[0].kind == K.DECL_REF_EXPR
                and cursors.binary_op(op.cursor) == cursors.ASSIGN):
            note(kids[0].spelling, kids[1])
    return {k: v for k, v in found.items() if k not in other and k not in names}


def container_changes(tu: TUView, fn: Node, names: set[str]) -> list[Write]:
    """C-API calls that change a container held in a field of the object, in source order."""
    cache = tu.__dict__.get("_container_calls")
    if cache is None:
        cache = tu.__dict__["_container_calls"] = {}
        for use in tu.uses_of(*other_data("container_steps")["mutators"]):
            if use.func is not None and use.args:
                cache.setdefault(id(use.func), []).append(use)
    uses = cache.get(id(fn), [])
    if not uses:
        return []
    local = field_aliases(tu, fn, names)
    out = []
    for use in uses:
        arg = clean_expr(use.args[0])
        m = _PLAIN_FIELD.match(arg)
        hit = (m.group(2), m.group(1)) if m and m.group(1) in names else local.get(arg)
        if hit:
            out.append(Write(hit[0], hit[1], use.start, use.line, use.column, use.name))
    return out


def _copies_into_pointee(tu: TUView, fn: Node, use, field: str) -> bool:
    """memcpy(self->data + i, ...) with a pointer field `data`: fills a data buffer (see
    _into_data_buffer); memcpy(self->buf, ...) with an inline array or memcpy(&self->x, ...) does not."""
    if clean_expr(use.args[0]).startswith("&"):
        return False
    for ref in by_function(tu, (K.MEMBER_REF_EXPR,)).get(id(fn), []):
        if ref.spelling == field and use.start <= ref.start < use.end:
            return ref.cursor.type.get_canonical().kind == TypeKind.POINTER
    return False


@dataclass(frozen=True)
class Reach:
    """An unguarded write a function makes to its first parameter's object, directly or in a helper
    it passes the object to; `at` is where, in that function, it happens (the write or the call)."""

    write: Write
    where: Node  # the function that contains the write
    at: tuple[int, int, int]  # (offset, line, column) in the function itself


def calls_by_function(tu: TUView) -> dict[int, list]:
    """Every use (call or macro) grouped by the function it is in (cached)."""
    cache = tu.__dict__.get("_calls_by_function")
    if cache is None:
        cache = tu.__dict__["_calls_by_function"] = {}
        for uses in tu.uses.values():
            for u in uses:
                if u.func is not None:
                    cache.setdefault(id(u.func), []).append(u)
    return cache


def unguarded_writes(tu: TUView, fn: Node, guarded, _active: frozenset = frozenset()) -> list[Reach]:
    """Writes to the fields of fn's first parameter (and changes to the containers they hold) that no
    guard covers, following calls that pass
    the object as first argument to functions defined in the TU (outside a guard at the call).
    guarded(fn, offset, names) says whether a position is guarded."""
    cache = tu.__dict__.setdefault("_unguarded_writes", {})
    if id(fn) in cache:
        return cache[id(fn)]
    ps = params(tu, fn)
    if not ps:
        return []
    names = aliases(tu, fn, ps[0].spelling)
    out = [Reach(w, fn, (w.start, w.line, w.column))
           for w in field_writes(tu, fn, names) + container_changes(tu, fn, names)
           if not guarded(fn, w.start, names)]
    defined = tu.__dict__.get("_defined_functions")
    if defined is None:
        defined = tu.__dict__["_defined_functions"] = {f.spelling: f for f in tu.functions}
    for use in calls_by_function(tu).get(id(fn), ()):
        callee = defined.get(use.name)
        if (use.macro or callee is None or callee is fn or id(callee) in _active or not use.args
                or clean_expr(use.args[0]) not in names or guarded(fn, use.start, names)):
            continue
        for r in unguarded_writes(tu, callee, guarded, _active | {id(fn)}):
            out.append(Reach(r.write, r.where, (use.start, use.line, use.column)))
    out.sort(key=lambda r: r.at[0])
    if not _active:
        cache[id(fn)] = out
    return out
