"""One walk over a translation unit's project cursors, indexed for the rules.

The walk visits every cursor of the project's own files once (system and Python headers are never
entered) and records, per node, its parent and enclosing function.  Rules query the index instead of
walking the AST themselves: that single pass is what keeps a scan cheaper than a compile.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from typing import Iterable, Iterator

from clang.cindex import Cursor, CursorKind, TranslationUnit

K = CursorKind
_FUNCTION_KINDS = {K.FUNCTION_DECL, K.CXX_METHOD, K.CONSTRUCTOR, K.DESTRUCTOR, K.FUNCTION_TEMPLATE}
_PREPROCESSING = {K.MACRO_INSTANTIATION, K.MACRO_DEFINITION, K.INCLUSION_DIRECTIVE}


class Node:
    """A cursor of a project file, with its parent and enclosing function."""

    __slots__ = ("cursor", "kind", "parent", "func", "_ext")

    def __init__(self, cursor: Cursor, kind: CursorKind, parent: "Node | None", func: "Node | None"):
        self.cursor = cursor
        self.kind = kind
        self.parent = parent
        self.func = func
        self._ext: tuple | None = None

    @property
    def spelling(self) -> str:
        return self.cursor.spelling

    def extent(self) -> tuple[str, int, int, int, int, int, int]:
        """(file, start offset, end offset, line, column, end line, end column)."""
        if self._ext is None:
            ext = self.cursor.extent
            s, e = ext.start, ext.end
            f = s.file
            self._ext = (f.name if f else "", s.offset, e.offset, s.line, s.column, e.line, e.column)
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
        self._children: dict[int, list[Node]] = defaultdict(list)
        self._sources: dict[str, bytes] = {}
        self._func_index: dict[str, tuple[list[int], list[Node]]] | None = None
        self._walk()

    # -- building -------------------------------------------------------------------------------
    def _walk(self) -> None:
        file_ok: dict[str, bool] = {}
        macros: list[Cursor] = []
        for top in self.tu.cursor.get_children():
            f = top.location.file
            if f is None:
                continue
            name = f.name
            ok = file_ok.get(name)
            if ok is None:
                ok = file_ok[name] = bool(self.is_project_file(name))
                if ok:
                    self.files.add(name)
            if not ok:
                continue
            kind = top.kind
            if kind in _PREPROCESSING:
                if kind == K.MACRO_INSTANTIATION:
                    macros.append(top)
                continue
            self._walk_decl(top, kind)
        for m in macros:
            node = Node(m, K.MACRO_INSTANTIATION, None, None)
            ext = node.extent()
            use = Use(self, m.spelling, None, True, ext, self.function_at(ext[0], ext[1]))
            self.uses[use.name].append(use)
            self.macro_uses.append(use)

    def _walk_decl(self, top: Cursor, kind: CursorKind) -> None:
        root = Node(top, kind, None, None)
        stack = [root]
        nodes, by_kind, children = self.nodes, self.by_kind, self._children
        while stack:
            node = stack.pop()
            nodes.append(node)
            by_kind[node.kind].append(node)
            func = node.func
            if node.kind in _FUNCTION_KINDS and node.cursor.is_definition():
                self.functions.append(node)
                func = node
            elif node.kind == K.CALL_EXPR:
                name = node.cursor.spelling
                if name:
                    self.uses[name].append(Use(self, name, node, False, node.extent(), func))
            kids = [Node(c, c.kind, node, func) for c in node.cursor.get_children()]
            children[id(node)] = kids
            stack.extend(reversed(kids))

    # -- queries ---------------------------------------------------------------------------------
    def children_of(self, node: Node) -> list[Node]:
        return self._children.get(id(node), [])

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
