"""Shared helpers of the allocator rules (FT4xx); defines no rule.

Allocator families come from data/allocators.toml.  An allocation is found as the call libclang sees
(a macro such as PyMem_New is matched to the PyMem_Malloc call it expands to, and reported under the
name the program wrote); where its result goes is read from the call's parents: an explicit cast, the
variable or field it is assigned to, the function's return type, or the call it is an argument of.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from clang.cindex import TypeKind

from extmigrate import cursors
from extmigrate.analysis.ppbranch import file_dead_ranges, in_dead_branch
from extmigrate.tree import CASTS, K, Node, TUView, Use

DATA = tomllib.loads(resources.files("extmigrate").joinpath("data/allocators.toml").read_text("utf-8"))
FAMILIES: dict[str, dict] = DATA["families"]
ROLE_OF: dict[str, tuple[str, str]] = {
    name: (fam, role) for fam, spec in FAMILIES.items() for role in ("alloc", "realloc", "free")
    for name in spec.get(role, ())
}
EXPANDS_TO: dict[str, str] = DATA["calls"]
OBJECT_INIT: tuple[str, ...] = tuple(DATA["object_init"]["names"])
SET_ALLOCATOR: tuple[str, ...] = tuple(DATA["hooks"]["names"])

_TRANSPARENT = {K.UNEXPOSED_EXPR, K.PAREN_EXPR} | CASTS
_NULL = re.compile(r"^\(*\s*(?:\(\s*void\s*\*\s*\)\s*)?(NULL|0|nullptr)\s*\)*$")


@dataclass
class AllocCall:
    """One call of an allocator family function."""

    family: str
    role: str  # alloc | realloc | free
    name: str  # as written (the macro name when a header macro was used)
    node: Node  # the CALL_EXPR
    use: Use


def call_args(tu: TUView, call: Node) -> list[Node]:
    """The argument nodes of a call (libclang lists the callee first)."""
    return tu.children_of(call)[1:]


def compatible(alloc_family: str, free_family: str) -> bool:
    return alloc_family == free_family or alloc_family in FAMILIES[free_family].get("accepts", ())


def alloc_calls(tu: TUView) -> list[AllocCall]:
    """Every allocator call of the TU's project code, sorted by position (cached on the view)."""
    cache = tu.__dict__.get("_alloc_calls")
    if cache is not None:
        return cache
    macro_at: dict[tuple[str, int], list[str]] = {}
    for name in ROLE_OF:
        for u in tu.uses.get(name, ()):
            if u.macro:
                macro_at.setdefault((u.path, u.start), []).append(name)
    out = []
    for name, (fam, role) in ROLE_OF.items():
        for u in tu.uses.get(name, ()):
            if u.macro or u.node is None or ft_dead(tu, u.path, u.start):
                continue
            written = name
            for m in macro_at.get((u.path, u.start), ()):
                if EXPANDS_TO.get(m) == name:
                    written = m
                    fam, role = ROLE_OF[m]
            out.append(AllocCall(fam, role, written, u.node, u))
            fam, role = ROLE_OF[name]
    out.sort(key=lambda a: (a.use.path, a.use.start))
    tu.__dict__["_alloc_calls"] = out
    return out


def strip(tu: TUView, node: Node) -> Node:
    """Down through implicit casts, parentheses and explicit casts to the expression itself."""
    while node.kind in _TRANSPARENT:
        kids = [k for k in tu.children_of(node) if k.kind != K.TYPE_REF]
        if len(kids) != 1:
            break
        node = kids[0]
    return node


def is_null(tu: TUView, node: Node) -> bool:
    return bool(_NULL.match(tu.node_text(node)))


def decl_key(node: Node) -> tuple[str, str, bool] | None:
    """(key, name, is_local) of the variable or field a stripped expression names."""
    if node.kind not in (K.DECL_REF_EXPR, K.MEMBER_REF_EXPR):
        return None
    ref = node.cursor.referenced
    if ref is None or ref.kind not in (K.VAR_DECL, K.PARM_DECL, K.FIELD_DECL):
        return None
    parent = ref.semantic_parent
    local = ref.kind == K.PARM_DECL or (
        ref.kind == K.VAR_DECL and parent is not None and parent.kind in (K.FUNCTION_DECL, K.CXX_METHOD))
    key = ref.get_usr() or f"{ref.kind.name}:{ref.spelling}:{ref.location.line}:{ref.location.column}"
    return key, ref.spelling, local


@dataclass
class Destination:
    """Where an allocation's result goes."""

    kind: str  # var | field | return | arg | none
    types: list  # clang Types that describe the memory: explicit casts, then the destination's
    key: str | None = None  # variable / field identity
    name: str = ""
    local: bool = False
    callee: str = ""  # kind == "arg": the function the result is passed to
    node: Node | None = None  # the assignment / declaration


def destination(tu: TUView, call: Node) -> Destination:
    types = []
    n, cur = call, call.parent
    while cur is not None:
        if cur.kind in _TRANSPARENT:
            if cur.kind in CASTS:
                types.append(cur.cursor.type)
        elif cur.kind == K.CONDITIONAL_OPERATOR:
            kids = tu.children_of(cur)
            if kids and kids[0] is n:
                break
        else:
            break
        n, cur = cur, cur.parent
    if cur is None:
        return Destination("none", types)
    if cur.kind == K.VAR_DECL:
        local = cur.func is not None
        return Destination("var", types + [cur.cursor.type], cur.cursor.get_usr() or cur.spelling,
                           cur.spelling, local, node=cur)
    if cur.kind == K.BINARY_OPERATOR and is_assign(tu, cur):
        kids = tu.children_of(cur)
        if len(kids) == 2 and kids[1] is n:
            lhs = strip(tu, kids[0])
            ref = decl_key(lhs)
            kind = "field" if lhs.kind == K.MEMBER_REF_EXPR else "var"
            if ref is None:
                return Destination("none", types + [kids[0].cursor.type], node=cur)
            key, name, local = ref
            return Destination(kind, types + [lhs.cursor.type], key, name, local and kind == "var",
                               node=cur)
    if cur.kind == K.RETURN_STMT and call.func is not None:
        return Destination("return", types + [call.func.cursor.result_type], node=cur)
    if cur.kind == K.CALL_EXPR:
        return Destination("arg", types, callee=cur.spelling, node=cur)
    return Destination("none", types)


def is_assign(tu: TUView, node: Node) -> bool:
    return cursors.binary_op(node.cursor) == cursors.ASSIGN


# -- what a pointer points to -------------------------------------------------------------------
_BUFFER_KINDS = {
    TypeKind.POINTER, TypeKind.CHAR_S, TypeKind.CHAR_U, TypeKind.SCHAR, TypeKind.UCHAR,
    TypeKind.SHORT, TypeKind.USHORT, TypeKind.INT, TypeKind.UINT, TypeKind.LONG, TypeKind.ULONG,
    TypeKind.LONGLONG, TypeKind.ULONGLONG, TypeKind.FLOAT, TypeKind.DOUBLE, TypeKind.LONGDOUBLE,
    TypeKind.BOOL, TypeKind.ENUM, TypeKind.WCHAR, TypeKind.CHAR16, TypeKind.CHAR32, TypeKind.INT128,
    TypeKind.UINT128, TypeKind.CONSTANTARRAY, TypeKind.BLOCKPOINTER,
}


def pointee(t) -> str:
    """'object' (a PyObject-headed struct), 'buffer' (anything else known) or 'unknown'."""
    t = t.get_canonical()
    if t.kind != TypeKind.POINTER:
        return "unknown"
    p = t.get_pointee().get_canonical()
    if p.kind in _BUFFER_KINDS:
        return "buffer"
    if p.kind == TypeKind.RECORD:
        headed = object_headed(p)
        return "unknown" if headed is None else ("object" if headed else "buffer")
    return "unknown"


_HEADED: dict[tuple, bool] = {}


def object_headed(record, depth: int = 0) -> bool | None:
    """Whether a struct starts with a PyObject header (PyObject_HEAD, PyObject ob_base, a headed
    struct, a C++ base that is one); None when the struct is incomplete here."""
    spelling = record.spelling
    if spelling in ("struct _object", "PyObject", "_object"):
        return True
    decl = record.get_declaration()
    loc = decl.location if decl is not None else None
    key = (spelling, loc.file.name if loc is not None and loc.file else "", loc.offset if loc else -1)
    if key in _HEADED:  # keyed by where the struct is declared: names repeat across files
        return _HEADED[key]
    result: bool | None = None
    if depth < 8 and decl is not None:
        for child in decl.get_children():
            if child.kind == K.CXX_BASE_SPECIFIER:
                if object_headed(child.type.get_canonical(), depth + 1):
                    result = True
                    break
            elif child.kind == K.FIELD_DECL:
                ft = child.type.get_canonical()
                result = bool(object_headed(ft, depth + 1)) if ft.kind == TypeKind.RECORD else False
                break
    if result is not None:  # incomplete here may be complete in another file
        _HEADED[key] = result
    return result


def memory_kind(types: list) -> str:
    """What the destination types say about the memory: object wins, then buffer, else unknown."""
    kinds = [pointee(t) for t in types]
    if "object" in kinds:
        return "object"
    return "buffer" if "buffer" in kinds else "unknown"


def type_name(types: list) -> str:
    for t in types:
        if pointee(t) != "unknown":
            return t.spelling
    return types[-1].spelling if types else ""


def passed_to_object_init(tu: TUView, func: Node | None, var: str, after: int) -> bool:
    """Whether a local variable is handed to PyObject_Init & co. later in the function."""
    if func is None or not var:
        return False
    want = re.compile(rf"^\(*\s*(?:\([^()]*\)\s*)?\(*\s*{re.escape(var)}\s*\)*$")
    for u in tu.uses_of(*OBJECT_INIT):
        if u.func is func and u.start > after and u.args and want.match(u.args[0]):
            return True
    return False


def cast_to_object(tu: TUView, func: Node | None, var: str, after: int) -> bool:
    """Whether the function later casts a local variable to a PyObject-headed pointer type."""
    if func is None or not var:
        return False
    inner = re.compile(rf"^\(\s*[^()]*\)\s*\(*\s*{re.escape(var)}\b")
    for cast in tu.of_kind(K.CSTYLE_CAST_EXPR):
        if cast.func is func and cast.start > after and pointee(cast.cursor.type) == "object":
            if inner.match(tu.node_text(cast)):
                return True
    return False


def call_data(tu: TUView, a: AllocCall) -> dict:
    """What the fix layer needs to rename a call: its offsets and whether the name is written there."""
    written = tu.text(a.use.path, a.use.start, a.use.start + len(a.name)) == a.name
    return {"call": a.name, "call_start": a.use.start, "call_end": a.use.start + len(a.name),
            "call_written": written, "family": a.family, "role": a.role}


_CALLOC = {"calloc", "PyMem_RawCalloc", "PyMem_Calloc", "PyObject_Calloc"}


def move_data(tu: TUView, a: AllocCall, dest: Destination, domain: str) -> dict:
    """Finding data for moving an allocation to the `domain` ("mem" or "object") family."""
    role = "calloc" if a.node.spelling in _CALLOC else a.role
    names = DATA["replacement"][domain]
    return {**call_data(tu, a), "role": role, "replacement": names[role],
            "replacement_free": names["free"], "target": dest.name, "target_kind": dest.kind,
            "target_key": dest.key, "type": type_name(dest.types)}


def ft_dead(tu: TUView, path: str, offset: int) -> bool:
    """Whether `offset` lies in a preprocessor branch a free-threaded build never compiles."""
    return in_dead_branch(file_dead_ranges(tu, path), offset)


def _mul_operands(tu: TUView, node: Node) -> list[Node]:
    node = strip(tu, node)
    op = getattr(node.cursor, "binary_operator", None) if node.kind == K.BINARY_OPERATOR else None
    if op is not None and op.name == "Mul":
        return [n for k in tu.children_of(node) for n in _mul_operands(tu, k)]
    return [node]


def sizeof_kind(tu: TUView, call: Node) -> tuple[str, str]:
    """What `sizeof(T)` in a size argument says (`sizeof(T)`, `n * sizeof(T)`, calloc's element size;
    sums such as `sizeof(T) + n` say nothing): ('object' | 'buffer' | 'unknown', T)."""
    args = call_args(tu, call)
    if call.spelling.endswith(("Realloc", "realloc")):
        args = args[1:]
    kinds, names = set(), []
    for arg in args:
        operands = _mul_operands(tu, arg)
        for node in operands:
            if node.kind != K.CXX_UNARY_EXPR or not tu.node_text(node).startswith("sizeof"):
                continue
            kids = tu.children_of(node)
            t = (kids[0].cursor.type if kids else None)
            names.append(t.spelling if t is not None else tu.node_text(node)[6:].strip("() "))
            if t is None:  # sizeof(char), sizeof(double): a builtin type
                kinds.add("buffer")
                continue
            if len(operands) > 1 and _template_parameter(kids[0]):
                kinds.add("buffer")  # n * sizeof(T) in a template: an array of C++ objects
                continue
            t = t.get_canonical()
            if t.kind == TypeKind.RECORD:
                headed = object_headed(t)
                kinds.add("unknown" if headed is None else "object" if headed else "buffer")
            else:
                kinds.add("buffer" if t.kind in _BUFFER_KINDS else "unknown")
    name = names[0] if names else ""
    if "object" in kinds:
        return "object", name
    return ("buffer" if kinds == {"buffer"} else "unknown"), name


def _template_parameter(node: Node) -> bool:
    ref = node.cursor.referenced if node.kind == K.TYPE_REF else None
    return ref is not None and ref.kind == K.TEMPLATE_TYPE_PARAMETER


def allocation_kind(tu: TUView, a: AllocCall, dest: Destination) -> tuple[str, str]:
    """What the allocated memory is, from its destination's types or else the sizeof it is sized
    with: ('object' | 'buffer' | 'unknown', the type that says so)."""
    kind = memory_kind(dest.types)
    if kind != "unknown":
        return kind, type_name(dest.types)
    kind, name = sizeof_kind(tu, a.node)
    return kind, (f"sizeof({name})" if name else "")


def is_callee(tu: TUView, ref: Node) -> bool:
    """Whether a function reference is the called function of a call (not a function pointer)."""
    child, parent = ref, ref.parent
    while parent is not None and parent.kind in (K.UNEXPOSED_EXPR, K.PAREN_EXPR):
        child, parent = parent, parent.parent
    if parent is None or parent.kind != K.CALL_EXPR:
        return False
    kids = tu.children_of(parent)
    return bool(kids) and kids[0] is child
