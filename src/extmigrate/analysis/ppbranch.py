"""Preprocessor branches that a free-threaded build never compiles; defines no rule.

Code under `#if PY_VERSION_HEX < 0x030D0000`, `#ifndef Py_GIL_DISABLED` or in the `#else` of
`#ifdef Py_GIL_DISABLED` is compiled for older or GIL builds only (a vendored pythoncapi_compat.h
builds PyList_GetItemRef from PyList_GetItem that way), so it cannot race on free-threaded Python.
Conditions are evaluated in three-valued logic: what the free-threaded build fixes (Python >= 3.13.0 final,
Py_GIL_DISABLED defined, not PyPy) is known, everything else is unknown and keeps the branch.
"""

from __future__ import annotations

import re

from extmigrate.analysis.text import blanked, by_content

_DIRECTIVE = re.compile(
    r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b((?:[^\n\\]|\\.)*)", re.M | re.S)
_TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_]\w*|&&|\|\||==|!=|<=|>=|[()<>!+\-,])[uUlL]*")
_TOP = 0x7FFFFFFF
# Values a free-threaded CPython build fixes, as (low, high) ranges.
_KNOWN = {"PY_VERSION_HEX": (0x030D00F0, _TOP), "PY_MAJOR_VERSION": (3, 3),
          "PY_MINOR_VERSION": (13, 99), "Py_GIL_DISABLED": (1, 1), "Py_LIMITED_API": (0, 0)}
# The limited API is not available on free-threaded builds (3.13, 3.14).
_DEFINED = {"Py_GIL_DISABLED": True, "PYPY_VERSION": False, "GRAALVM_PYTHON": False,
            "Py_LIMITED_API": False}
_PACK = {"_Py_PACK_VERSION", "Py_PACK_VERSION"}  # (major, minor) -> hex version


class _Expr:
    """Recursive-descent evaluator; a value is a (low, high) range, True/False, or None (unknown)."""

    def __init__(self, text: str):
        self.toks, pos = [], 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                if text[pos:].strip():
                    raise ValueError(text)
                break
            self.toks.append(m.group(1))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ValueError("end")
        self.i += 1
        return tok

    def value(self) -> bool | None:
        v = _truth(self.disj())
        if self.peek() is not None:
            raise ValueError("trailing")
        return v

    def disj(self):
        return self._chain("||", self.conj, True)

    def conj(self):
        return self._chain("&&", self.cmp, False)

    def _chain(self, op: str, operand, absorbing: bool):
        """a || b || ... (absorbing True) or a && b && ... (absorbing False), three-valued."""
        v = operand()
        while self.peek() == op:
            self.take()
            a, b = _truth(v), _truth(operand())
            v = absorbing if absorbing in (a, b) else (not absorbing if a is b is (not absorbing) else None)
        return v

    def cmp(self):
        v = self.add()
        while self.peek() in ("<", "<=", ">", ">=", "==", "!="):
            op = self.take()
            v = _compare(op, _range(v), _range(self.add()))
        return v

    def add(self):
        v = self.unary()
        while self.peek() in ("+", "-"):
            op, a, b = self.take(), _range(v), _range(self.unary())
            if a is None or b is None:
                v = None
            else:
                v = (a[0] + b[0], a[1] + b[1]) if op == "+" else (a[0] - b[1], a[1] - b[0])
        return v

    def unary(self):
        tok = self.take()
        if tok == "!":
            t = _truth(self.unary())
            return None if t is None else not t
        if tok == "(":
            v = self.disj()
            if self.take() != ")":
                raise ValueError(")")
            return v
        if tok == "defined":
            paren = self.peek() == "("
            if paren:
                self.take()
            name = self.take()
            if paren and self.take() != ")":
                raise ValueError(")")
            return _DEFINED.get(name)
        if tok[0].isdigit():
            n = int(tok, 0) if not (tok.startswith("0") and tok[1:].isdigit()) else int(tok, 8)
            return (n, n)
        if tok in _PACK and self.peek() == "(":
            self.take()
            major, _, minor = _range(self.disj()), self.take(), _range(self.disj())
            if self.take() != ")" or major is None or minor is None or major[0] != major[1]:
                raise ValueError("pack")
            return ((major[0] << 24) | (minor[0] << 16), (major[0] << 24) | (minor[1] << 16))
        if self.peek() == "(":  # function-like macro: unknown
            depth = 0
            while True:
                t = self.take()
                depth += {"(": 1, ")": -1}.get(t, 0)
                if depth == 0:
                    break
            return None
        return _KNOWN.get(tok)


def _range(v):
    if v is True:
        return (1, 1)
    if v is False:
        return (0, 0)
    return v


def _truth(v) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    lo, hi = v
    if lo == hi == 0:
        return False
    if lo > 0 or hi < 0:
        return True
    return None


def _compare(op: str, a, b) -> bool | None:
    if a is None or b is None:
        return None
    (alo, ahi), (blo, bhi) = a, b
    lt = True if ahi < blo else (False if alo >= bhi else None)
    gt = True if alo > bhi else (False if ahi <= blo else None)
    eq = True if alo == ahi == blo == bhi else (False if ahi < blo or alo > bhi else None)
    neg = {True: False, False: True, None: None}
    return {"<": lt, ">": gt, "==": eq, "!=": neg[eq],
            "<=": None if gt is None else not gt, ">=": None if lt is None else not lt}[op]


def evaluate(condition: str) -> bool | None:
    """The condition of an #if under a free-threaded build: True, False or None (unknown)."""
    try:
        return _Expr(condition.replace("\\\n", " ")).value()
    except (ValueError, IndexError):
        return None


def _branch_value(kind: str, arg: str) -> bool | None:
    arg = arg.strip()
    if kind in ("ifdef", "elifdef"):
        return _DEFINED.get(arg.split()[0]) if arg else None
    if kind in ("ifndef", "elifndef"):
        v = _DEFINED.get(arg.split()[0]) if arg else None
        return None if v is None else not v
    return evaluate(arg)


def dead_ranges(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of branches a free-threaded build never compiles."""
    out: list[tuple[int, int]] = []
    stack: list[dict] = []  # per #if group: values of earlier branches, current branch start/value
    for m in _DIRECTIVE.finditer(text):
        kind, arg = m.group(1), m.group(2)
        if kind in ("if", "ifdef", "ifndef"):
            v = _branch_value(kind, arg)
            stack.append({"prev": [v], "start": m.end(), "value": v})
            continue
        if not stack:
            continue
        top = stack[-1]
        if top["value"] is False:
            out.append((top["start"], m.start()))
        if kind == "endif":
            stack.pop()
            continue
        earlier_true = any(p is True for p in top["prev"])
        all_false = all(p is False for p in top["prev"])
        if kind == "else":
            v = False if earlier_true else (True if all_false else None)
        else:
            own = _branch_value(kind, arg)
            v = False if earlier_true or own is False else (True if all_false and own else None)
            top["prev"].append(own)
        top["start"], top["value"] = m.end(), v
    return sorted(out)


def file_dead_ranges(tu, path: str) -> list[tuple[int, int]]:
    """dead_ranges() of one file of a TUView (cached on the view: several rules ask)."""
    cache = tu.__dict__.setdefault("_dead_ranges", {})
    ranges = cache.get(path)
    if ranges is None:
        ranges = cache[path] = by_content("dead", tu.source(path), lambda: dead_ranges(blanked(tu, path)))
    return ranges


def in_dead_branch(ranges: list[tuple[int, int]], offset: int) -> bool:
    return any(s <= offset < e for s, e in ranges)


def gil_only(tu, path: str, offset: int) -> bool:
    """Is the position in a preprocessor branch a free-threaded build never compiles (the `#else` of
    `#ifdef Py_GIL_DISABLED`, `#if PY_VERSION_HEX < 0x030D0000` ...)? Scans parse the GIL branch."""
    return in_dead_branch(file_dead_ranges(tu, path), offset)
