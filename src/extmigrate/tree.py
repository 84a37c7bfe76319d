"""One walk over a translation unit's project cursors, indexed for the rules.

The walk visits every cursor of the project's own files once (system and Python headers are never
entered) and records, per node, its parent and enclosing function.  Rules query the index instead of
walking the AST themselves: that single pass is what keeps a scan cheaper than a compile.
"""

from __future__ import annotations

import bisect
import gc
import os
from collections import defaultdict
from typing import Iterable, Iterator

from ctypes import CFUNCTYPE, POINTER, byref, c_int, c_uint, c_void_p, cast, py_object
from functools import cache

from clang.cindex import Cursor, CursorKind, File, SourceLocation, TranslationUnit, c_object_p, conf

K = CursorKind
# Casts, C and C++ (static_cast<T *>(p), reinterpret_cast<PyCFunction>(f), PyCFunction(f)): rules that
# look through a cast to the expression look through all of them.
CASTS = frozenset({K.CSTYLE_CAST_EXPR, K.CXX_STATIC_CAST_EXPR, K.CXX_REINTERPRET_CAST_EXPR,
                   K.CXX_CONST_CAST_EXPR, K.CXX_DYNAMIC_CAST_EXPR, K.CXX_FUNCTIONAL_CAST_EXPR})
_FUNCTION_KINDS = {K.FUNCTION_DECL, K.CXX_METHOD, K.CONSTRUCTOR, K.DESTRUCTOR, K.FUNCTION_TEMPLATE}
_PREPROCESSING = {K.MACRO_INSTANTIATION, K.MACRO_DEFINITION, K.INCLUSION_DIRECTIVE}
# Elements of one initializer list kept in the index.  Method, member and slot tables are far
# shorter; a generated data table (brotli's 122 KB dictionary) would otherwise cost 250,000 nodes.
INIT_LIST_CAP = 4096


_NULL_KIND = CursorKind.INVALID_FILE.value  # an enum member's .value is a slow descriptor


def _is_null(cursor: Cursor) -> bool:
    """Cursor.is_null without a libclang call: what clang_equalCursors(c, clang_getNullCursor()) does.

    cindex runs is_null before every cursor method and on every cursor a call returns, so this
    check is a large part of what a rule's cursor queries cost."""
    return cursor._kind_id == _NULL_KIND and not (
        cursor.data[0] or cursor.data[1] or cursor.data[2])


Cursor.is_null = _is_null  # type: ignore[method-assign]


@cache
def _kind_by_id() -> dict[int, CursorKind]:
    return {k.value: k for k in CursorKind}


def _unguarded(attr):
    """The method or property under cindex's cursor_null_guard, or None when it has no guard."""
    fn = attr.fget if isinstance(attr, property) else attr
    if not callable(fn) or not getattr(fn, "__qualname__", "").startswith("cursor_null_guard."):
        return None
    inner = fn.__closure__[0].cell_contents
    return property(inner) if isinstance(attr, property) else inner


class FastCursor(Cursor):
    """A walk's cursors: never null, so cindex's per-call null check (a Python wrapper around every
    property) is dropped; kinds come from a dict, `referenced` from a prototype returning this class."""

    @property
    def kind(self) -> CursorKind:
        return _kind_by_id()[self._kind_id]

    @property
    def referenced(self) -> "Cursor | None":
        d = self.__dict__  # every walk cursor has one (its _tu)
        if "_referenced" in d:
            return d["_referenced"]
        res = _referenced_of()(self)
        if _is_null(res):
            res = None
        else:
            res._tu = d["_tu"]
        d["_referenced"] = res
        return res


for _name, _attr in list(vars(Cursor).items()):
    if _name not in vars(FastCursor) and (_plain := _unguarded(_attr)) is not None:
        setattr(FastCursor, _name, _plain)


@cache
def _referenced_of():
    fn = conf.lib["clang_getCursorReferenced"]  # a private prototype: cindex's stays untouched
    fn.argtypes, fn.restype = [Cursor], FastCursor
    return fn


_VISIT = CFUNCTYPE(c_int, FastCursor, FastCursor, py_object)


@cache
def _visit_children():
    fn = conf.lib["clang_visitChildren"]  # a private prototype for the FastCursor callback type
    fn.argtypes, fn.restype = [Cursor, _VISIT, py_object], c_uint
    return fn


@cache
def _file_of():
    """clang_getInstantiationLocation returning the bare CXFile address (cindex wraps it in objects)."""
    fn = conf.lib["clang_getInstantiationLocation"]  # a private prototype: cindex's stays untouched
    fn.argtypes = [SourceLocation, POINTER(c_void_p), POINTER(c_uint), POINTER(c_uint), POINTER(c_uint)]
    fn.restype = None
    return fn


def file_name(tu: TranslationUnit, handle: int) -> str:
    """A CXFile's name; handles are only unique while their translation unit lives."""
    names = tu.__dict__.get("_extmigrate_files")
    if names is None:
        names = tu.__dict__["_extmigrate_files"] = {}
    name = names.get(handle)
    if name is None:
        name = names[handle] = File(cast(c_void_p(handle), c_object_p)).name
    return name


# Out-parameters of the location calls, allocated once (a walk runs on one thread at a time).
_F, _LINE, _COL, _OFF = c_void_p(), c_uint(), c_uint(), c_uint()
_OUT = (byref(_F), byref(_LINE), byref(_COL), byref(_OFF))


def cursor_extent(cursor: Cursor) -> tuple[str, int, int, int, int, int, int]:
    """(file, start offset, end offset, line, column, end line, end column), in few libclang calls."""
    lib, file_of = conf.lib, _file_of()
    rng = lib.clang_getCursorExtent(cursor)
    file_of(lib.clang_getRangeStart(rng), *_OUT)
    handle = _F.value
    path = file_name(cursor._tu, handle) if handle else ""
    off, line, col = _OFF.value, _LINE.value, _COL.value
    file_of(lib.clang_getRangeEnd(rng), *_OUT)
    return (path, off, _OFF.value, line, col, _LINE.value, _COL.value)


class Node:
    """A cursor of a project file, with its parent and enclosing function."""

    __slots__ = ("_cursor", "_raw", "_tu", "kind", "parent", "func", "kids", "_ext")

    def __init__(self, cursor: Cursor | None, kind: CursorKind, parent: "Node | None", func: "Node | None",
                 raw: bytes = b"", tu: TranslationUnit | None = None):
        self._cursor = cursor  # or None, made from `raw` (the CXCursor's bytes) when a rule asks
        self._raw = raw
        self._tu = tu
        self.kind = kind
        self.parent = parent
        self.func = func
        self.kids: list[Node] = []  # the indexed children, in source order
        self._ext: tuple | None = None

    @property
    def cursor(self) -> Cursor:
        """The libclang cursor. The walk keeps only its bytes: most nodes are never asked, and
        keeping thousands of ctypes objects alive costs more than making the few that are."""
        c = self._cursor
        if c is None:
            c = self._cursor = FastCursor.from_buffer_copy(self._raw)
            c._tu = self._tu
        return c

    @property
    def spelling(self) -> str:
        return self.cursor.spelling

    def extent(self) -> tuple[str, int, int, int, int, int, int]:
        """(file, start offset, end offset, line, column, end line, end column)."""
        if self._ext is None:
            self._ext = cursor_extent(self.cursor)
        return self._ext

    @property
    def start(self) -> int:
        return self.extent()[1]

    @property
    def end(self) -> int:
        return self.extent()[2]

    @property
    def path(self) -> str:
        return self.extent()[0]

    def children(self, index: "TUView") -> list["Node"]:
        return index.children_of(self)

    def ancestors(self) -> Iterator["Node"]:
        n = self.parent
        while n is not None:
            yield n
            n = n.parent

    def __repr__(self) -> str:
        return f"<Node {self.kind.name} {self.spelling!r} @{self.extent()[3]}:{self.extent()[4]}>"


class Use:
    """One use of a named API: a call expression or a macro instantiation."""

    __slots__ = ("name", "node", "macro", "path", "start", "end", "line", "column", "end_line",
                 "end_column", "func", "_args", "_view")

    def __init__(self, view: "TUView", name: str, node: Node | None, macro: bool, ext: tuple,
                 func: Node | None):
        self._view = view
        self.name = name
        self.node = node
        self.macro = macro
        (self.path, self.start, self.end, self.line, self.column, self.end_line,
         self.end_column) = ext
        self.func = func
        self._args: list[str] | None = None

    @property
    def function_name(self) -> str | None:
        return self.func.spelling if self.func is not None else None

    @property
    def args(self) -> list[str]:
        """Argument source texts, split at top-level commas (works for macros and calls)."""
        if self._args is None:
            self._args = split_args(self._view.text(self.path, self.start, self.end))
        return self._args

    def __repr__(self) -> str:
        return f"<Use {self.name} {os.path.basename(self.path)}:{self.line}:{self.column}>"


def split_args(text: str) -> list[str]:
    """'f(a, g(b, c), d)' -> ['a', 'g(b, c)', 'd']."""
    open_at = text.find("(")
    if open_at < 0:
        return []
    depth, cur, out = 0, [], []
    for ch in text[open_at + 1:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


_CALLEE_KINDS = (K.DECL_REF_EXPR, K.OVERLOADED_DECL_REF, K.UNEXPOSED_EXPR)


def _dependent_callee(call: Node) -> str:
    """The function a call in a template names when its arguments are type-dependent
    (`PyObject_Free(p)` with `T *p`: the callee is an overload set, the call has no spelling)."""
    node = call.kids[0] if call.kids else None
    for _ in range(3):
        if node is None or node.kind not in _CALLEE_KINDS:
            return ""
        if node.kind == K.OVERLOADED_DECL_REF:
            return node.spelling
        node = node.kids[0] if node.kids else None
    return ""


class TUView:
    """The indexed project part of one translation unit."""

    def __init__(self, tu: TranslationUnit, main_path: str, is_project_file):
        self.tu = tu
        self.main_path = main_path
        self.is_project_file = is_project_file
        self.nodes: list[Node] = []
        self.by_kind: dict[CursorKind, list[Node]] = defaultdict(list)
        self.uses: dict[str, list[Use]] = defaultdict(list)
        self.functions: list[Node] = []
        self.macro_uses: list[Use] = []
        self.files: set[str] = set()
        self._sources: dict[str, bytes] = {}
        self._func_index: dict[str, tuple[list[int], list[Node]]] | None = None
        self.elided = 0  # initializer-list elements past INIT_LIST_CAP, left out of the index
        self._walk()

    # -- building -------------------------------------------------------------------------------
    def _walk(self) -> None:
        """One clang_visitChildren pass: top-level cursors of other files are skipped unvisited.

        The callback is the hot path of a scan, so it avoids cindex conveniences that cost a libclang
        round trip per cursor: kinds come from the cursor struct, parents are matched by the raw bytes
        of the cursor libclang hands back, and files are compared by their CXFile handle.
        """
        lib = conf.lib
        tu = self.tu
        root = tu.cursor
        root_key = bytes(root)
        file_ok: dict[int | None, bool] = {}
        by_key: dict[bytes, tuple[Node, Node | None]] = {}  # cursor bytes -> (node, its children's func)
        macros: list[Cursor] = []
        nodes, by_kind, functions, uses = self.nodes, self.by_kind, self.functions, self.uses
        cxfile = c_void_p()
        file_of = _file_of()
        kinds = _kind_by_id()
        failure: list[BaseException] = []

        def project_file(cursor: Cursor) -> bool:
            file_of(lib.clang_getCursorLocation(cursor), byref(cxfile), None, None, None)
            handle = cxfile.value
            ok = file_ok.get(handle)
            if ok is None:
                name = file_name(tu, handle) if handle else ""
                ok = file_ok[handle] = bool(name) and bool(self.is_project_file(name))
                if ok:
                    self.files.add(name)
            return ok

        by_id: dict[int, list[Node]] = defaultdict(list)  # by kind id: enum hashing is slow
        function_ids = {k.value for k in _FUNCTION_KINDS}
        preprocessing_ids = {k.value for k in _PREPROCESSING}
        call_id, macro_id = K.CALL_EXPR.value, K.MACRO_INSTANTIATION.value

        def find_parent(parent: Cursor):
            """Slow path: the parent is a recent node; compare cursors the way libclang does."""
            for node in reversed(nodes[-4096:]):
                if lib.clang_equalCursors(parent, node.cursor):
                    return by_key.get(bytes(node.cursor))
            return None

        enum_id = K.ENUM_DECL.value
        unnamed: list[Node] = []
        special_ids = function_ids | {call_id, enum_id}
        init_list = K.INIT_LIST_EXPR

        def visit(cursor: Cursor, parent: Cursor, _data) -> int:
            try:
                pkey = bytes(parent)
                entry = by_key.get(pkey)
                if entry is not None:  # the common case: below a node of this walk
                    key = bytes(cursor)
                    if key == pkey:  # a ConstantExpr reported again as its own child
                        return 2
                    up, func = entry
                    kids = up.kids
                    if len(kids) >= INIT_LIST_CAP and up.kind is init_list:
                        self.elided += 1
                        return 1  # a data table: its first elements are enough for any rule
                elif pkey == root_key:
                    if not project_file(cursor):
                        return 1  # continue: never enter other files
                    kid = cursor._kind_id
                    if kid in preprocessing_ids:
                        if kid == macro_id:
                            cursor._tu = tu
                            macros.append(cursor)
                        return 1
                    up = func = kids = None
                    key = bytes(cursor)
                else:  # C++: some parents come back with other bytes than they had
                    key = bytes(cursor)
                    if key == pkey:
                        return 2
                    entry = find_parent(parent)
                    if entry is None:
                        return 1  # not below a project cursor we know: skip it, keep walking
                    up, func = entry
                    kids = up.kids
                    if len(kids) >= INIT_LIST_CAP and up.kind is init_list:
                        self.elided += 1
                        return 1
                kid = cursor._kind_id
                node = Node(None, kinds[kid], up, func, key, tu)
                nodes.append(node)
                by_id[kid].append(node)
                if kids is not None:
                    kids.append(node)
                if kid in special_ids:
                    if kid == enum_id:  # its constants matter to no rule (uses of them are kept)
                        return 1
                    if kid == call_id:
                        cursor._tu = tu
                        node._cursor = cursor
                        name = cursor.spelling
                        if name:
                            uses[name].append(Use(self, name, node, False, node.extent(), func))
                        else:  # C++: a call with type-dependent arguments names no callee yet
                            unnamed.append(node)
                    elif lib.clang_isCursorDefinition(cursor):
                        functions.append(node)
                        by_key[key] = (node, node)
                        return 2
                    else:  # a prototype: its parameters and type references matter to no rule
                        return 1
                by_key[key] = (node, func)
                return 2  # recurse
            except BaseException as e:  # an exception must not vanish inside a ctypes callback
                failure.append(e)
                return 0  # break

        gc_was_on = gc.isenabled()
        gc.disable()  # tens of thousands of new long-lived objects: collections would dominate
        try:
            _visit_children()(root, _VISIT(visit), None)
        finally:
            if gc_was_on:
                gc.enable()
        if failure:
            raise failure[0]
        for kid, members in by_id.items():
            by_kind[kinds[kid]] = members
        for node in unnamed:
            name = _dependent_callee(node)
            if name:
                self.uses[name].append(Use(self, name, node, False, node.extent(), node.func))
        for m in macros:
            node = Node(m, K.MACRO_INSTANTIATION, None, None)
            ext = node.extent()
            use = Use(self, m.spelling, None, True, ext, self.function_at(ext[0], ext[1]))
            self.uses[use.name].append(use)
            self.macro_uses.append(use)

    def close(self) -> None:
        """Drop the index and every cache rules left on the view: the nodes, uses and caches refer
        to each other, and breaking those cycles lets reference counting free a parsed file at once
        instead of a full garbage collection."""
        for node in self.__dict__.get("nodes", ()):
            node.kids = node.parent = node._cursor = None  # parent <-> child
        self.__dict__.clear()

    # -- queries ---------------------------------------------------------------------------------
    def children_of(self, node: Node) -> list[Node]:
        return node.kids

    def of_kind(self, *kinds: CursorKind) -> Iterable[Node]:
        for k in kinds:
            yield from self.by_kind.get(k, ())

    def uses_of(self, *names: str) -> list[Use]:
        """Uses of any of the names, macro and call forms merged (one per source position)."""
        seen: set[tuple[str, int]] = set()
        out: list[Use] = []
        for name in names:
            for u in sorted(self.uses.get(name, ()), key=lambda u: (not u.macro, u.path, u.start)):
                key = (u.path, u.start)
                if key not in seen:
                    seen.add(key)
                    out.append(u)
        out.sort(key=lambda u: (u.path, u.start))
        return out

    def function_at(self, path: str, offset: int) -> Node | None:
        if self._func_index is None:
            idx: dict[str, tuple[list[int], list[Node]]] = {}
            for fn in sorted(self.functions, key=lambda n: (n.path, n.start)):
                starts, fns = idx.setdefault(fn.path, ([], []))
                starts.append(fn.start)
                fns.append(fn)
            self._func_index = idx
        starts, fns = self._func_index.get(path, ([], []))
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and fns[i].start <= offset < fns[i].end:
            return fns[i]
        return None

    def source(self, path: str) -> bytes:
        data = self._sources.get(path)
        if data is None:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
            self._sources[path] = data
        return data

    def text(self, path: str, start: int, end: int) -> str:
        return self.source(path)[start:end].decode("utf-8", errors="replace")

    def node_text(self, node: Node) -> str:
        p, s, e = node.extent()[:3]
        return self.text(p, s, e)

    def line_text(self, path: str, line: int) -> str:
        lines = self.source(path).split(b"\n")
        return lines[line - 1].decode("utf-8", errors="replace") if 0 < line <= len(lines) else ""
