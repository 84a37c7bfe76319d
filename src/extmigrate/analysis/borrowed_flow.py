"""How a borrowed value is used, read from the AST (analysis/borrowed.py falls back to text).

An occurrence is a DECL_REF_EXPR of a variable (found by the offset of its name) or the expression
a borrowed API call makes (found by its extent). Its parents are walked up, through parentheses,
casts, implicit conversions and the branches of `?:`, to the first one that decides the use:
- 'read': `x->f`, `x[i]`, `&x`, `*x` (a private read);
- 'tested': compared (`==`, `!=`) or a truth test (if/while/do condition, `!`, `&&`, `||`, `c ? :`);
- 'returned': `return x`;
- 'call': an argument of a call (detail: callee name, argument index);
- 'assign': the right-hand side of `=` (detail: the local it goes to, or None for anything else);
- 'init': a variable's initializer (detail: the local, or None for a static one);
- 'lhs': assigned anew; 'discarded': a whole statement; 'other': part of a larger expression.
None: the AST cannot tell (macro expansions, C++ operator calls, a body that did not parse); the
caller then reads the text. Occurrences inside a macro's argument are decided only when the macro
is a reference-count call (`Py_INCREF(x)` expands to `Py_INCREF(_PyObject_CAST(x))`).
"""

from __future__ import annotations

from ctypes import byref, c_uint, c_void_p

from clang.cindex import BinaryOperator, conf

from extmigrate import cursors
from extmigrate.brokenparse import error_lines, spans_error
from extmigrate.tree import CASTS, K, Node, TUView, file_name

INCREFS = {"Py_INCREF", "Py_XINCREF", "Py_NewRef", "Py_XNewRef"}
_THROUGH = CASTS | {K.UNEXPOSED_EXPR, K.PAREN_EXPR}
_EQ, _NE = BinaryOperator.EQ.value, BinaryOperator.NE.value
_AND, _OR = BinaryOperator.LAnd.value, BinaryOperator.LOr.value
_ASSIGN = BinaryOperator.Assign.value
_STATEMENTS = {K.COMPOUND_STMT, K.IF_STMT, K.WHILE_STMT, K.DO_STMT, K.FOR_STMT, K.CASE_STMT,
               K.DEFAULT_STMT, K.LABEL_STMT}
_F, _OFF = c_void_p(), c_uint()


def is_incref(callee: str) -> bool:
    """Py_INCREF and kin, also as older headers expand them (`_Py_INCREF`, `_Py_NewRef`)."""
    return callee.lstrip("_") in INCREFS


class Flow:
    """The DECL_REF_EXPRs of one function by the offset of their name (made once, on first use)."""

    def __init__(self, tu: TUView, func: Node, path: str):
        self.tu, self.func, self.path = tu, func, path
        self.broken = _broken(tu, func)
        self._refs: dict[int, list[Node]] | None = None

    def refs(self) -> dict[int, list[Node]]:
        if self._refs is None:
            lib, out = conf.lib, {}
            todo = list(self.func.kids)
            while todo:
                n = todo.pop()
                todo.extend(n.kids)
                if n.kind != K.DECL_REF_EXPR:
                    continue
                lib.clang_getSpellingLocation(lib.clang_getCursorLocation(n.cursor), byref(_F), None, None,
                                              byref(_OFF))
                if _F.value and file_name(self.tu.tu, _F.value) == self.path:
                    out.setdefault(_OFF.value, []).append(n)
            self._refs = out
        return self._refs

    def var_use(self, name: str, off: int) -> tuple[str, object] | None:
        """The use of the variable `name` whose name starts at file offset `off`."""
        if self.broken:
            return None
        found = [n for n in self.refs().get(off, ()) if n.spelling == name]
        if not found:
            return None
        uses = set()
        for n in found:
            use = classify(self.tu, n)
            if n.start != off and (use is None or use[0] != "call" or not is_incref(use[1][0])):
                return None  # inside a macro's argument: its expansion is not what the text says
            uses.add(use)
        return uses.pop() if len(uses) == 1 else None

    def call_use(self, node: Node | None, start: int, end: int) -> tuple[str, object] | None:
        """The use of the value a borrowed call makes: `node` (its CALL_EXPR, None for a macro) or
        the outermost expression spanning exactly [start, end) (a macro's expansion)."""
        if self.broken:
            return None
        if node is None:
            node = _spanning(self.func, start, end)
        if node is None or node.start != start or node.end != end:
            return None
        while node.parent is not None and node.parent.start == start and node.parent.end == end:
            if node.parent.kind not in _THROUGH:
                return None  # the macro's expansion goes on above the call
            node = node.parent
        return classify(self.tu, node)


def _spanning(func: Node, start: int, end: int) -> Node | None:
    """The outermost node under `func` whose extent is exactly [start, end)."""
    node = func
    while True:
        inner = next((k for k in node.kids if k.start <= start and end <= k.end), None)
        if inner is None:
            return None
        if inner.start == start and inner.end == end:
            return inner
        node = inner


def classify(tu: TUView, node: Node) -> tuple[str, object] | None:
    """(use, detail) of the value of `node` (see the module's docstring)."""
    cur, up = node, node.parent
    while up is not None:
        kind, kids = up.kind, up.kids
        if kind in _THROUGH:
            cur, up = up, up.parent
            continue
        first = bool(kids) and kids[0] is cur
        if kind == K.CONDITIONAL_OPERATOR:
            if first:
                return "tested", None
            cur, up = up, up.parent  # a branch: its value is the result
            continue
        if kind in (K.MEMBER_REF_EXPR, K.ARRAY_SUBSCRIPT_EXPR):
            return ("read", None) if first else ("other", None)
        if kind == K.UNARY_OPERATOR:
            op = _op_text(tu, up, cur)
            if op == "!":
                return "tested", None
            return ("read", None) if op in ("&", "*") else ("other", None)
        if kind == K.BINARY_OPERATOR:
            op = cursors.binary_op(up.cursor)
            if op in (_EQ, _NE, _AND, _OR):
                return "tested", None
            if op == _ASSIGN:
                return ("lhs", None) if first else ("assign", _local(tu, kids[0]))
            return None if op == BinaryOperator.Comma.value else ("other", None)
        if kind == K.RETURN_STMT:
            return "returned", None
        if kind == K.CALL_EXPR:
            return _argument(up, cur)
        if kind == K.VAR_DECL:
            return "init", _decl_local(up)
        if kind in (K.IF_STMT, K.WHILE_STMT):
            return ("tested", None) if first else ("discarded", None)
        if kind == K.DO_STMT:
            return ("tested", None) if kids[-1] is cur else ("discarded", None)
        if kind == K.FOR_STMT:
            return ("discarded", None) if kids[-1] is cur else None  # init, condition or step: unknown
        if kind in _STATEMENTS:
            return "discarded", None
        if kind == K.INIT_LIST_EXPR:
            return None
        return "other", None
    return None


def _op_text(tu: TUView, op: Node, operand: Node) -> str:
    """The operator of a unary expression written in the source (`!x`, `&x`; '' for `x++`)."""
    if op.start >= operand.start:
        return ""
    return tu.source(op.path)[op.start:operand.start].decode("latin-1").strip().rstrip("(").strip()


def _argument(call: Node, cur: Node) -> tuple[str, object] | None:
    ref = call.cursor.referenced
    if ref is None or ref.kind not in (K.FUNCTION_DECL, K.CXX_METHOD) or call.spelling.startswith("operator"):
        return None  # a constructor, an operator, a call through a pointer: read the text
    kids = call.kids
    if not kids or kids[0] is cur or cur not in kids:
        return "other", None
    return "call", (call.spelling, kids.index(cur) - 1)


def _local(tu: TUView, lhs: Node) -> str | None:
    """The name of the local variable (or parameter) `lhs` denotes, None for anything else."""
    while lhs.kind in _THROUGH and lhs.kids:
        lhs = lhs.kids[0]
    if lhs.kind != K.DECL_REF_EXPR:
        return None
    ref = lhs.cursor.referenced
    if ref is None or ref.kind not in (K.VAR_DECL, K.PARM_DECL):
        return None
    if ref.kind == K.VAR_DECL and (not _in_function(ref) or cursors.storage_class(ref) == cursors.STATIC):
        return None
    return lhs.spelling


def _in_function(ref) -> bool:
    p = ref.semantic_parent
    return p is not None and p.kind in (K.FUNCTION_DECL, K.CXX_METHOD, K.CONSTRUCTOR, K.DESTRUCTOR,
                                        K.FUNCTION_TEMPLATE)


def _decl_local(decl: Node) -> str | None:
    if decl.func is None or cursors.storage_class(decl.cursor) == cursors.STATIC:
        return None
    return decl.spelling


def _broken(tu: TUView, func: Node) -> bool:
    """Does an error diagnostic of the parse fall inside the function's lines?"""
    # Every error counts, also those brokenparse.py forgives (a Python name written for other headers):
    # the expression around it may be missing from the AST, so the text decides there.
    return spans_error(error_lines(tu.tu, tu, forgive_python=False), func)
