"""Guarded regions inside a function: critical sections and lock/unlock pairs.

Found in the function's source text rather than its AST, so that a critical section is recognised
whatever headers the file was parsed against (the macros do not exist before 3.13, and expand to a
bare `{` on GIL builds).  Comments and string literals are blanked first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extmigrate.tree import Node, TUView

_CS_BEGIN = re.compile(r"\bPy_BEGIN_CRITICAL_SECTION(2_MUTEX|2|_MUTEX|_SEQUENCE_FAST)?\s*\(")
_CS_END = re.compile(r"\bPy_END_CRITICAL_SECTION(2|_SEQUENCE_FAST)?\s*\(")
_LOCK = re.compile(
    r"\b(PyMutex_Lock|pthread_mutex_lock|PyThread_acquire_lock(?:_timed)?|EnterCriticalSection|"
    r"AcquireSRWLockExclusive|mtx_lock|pthread_rwlock_wrlock|pthread_spin_lock|PyEval_AcquireLock)\s*\(")
_UNLOCK = re.compile(
    r"\b(PyMutex_Unlock|pthread_mutex_unlock|PyThread_release_lock|LeaveCriticalSection|"
    r"ReleaseSRWLockExclusive|mtx_unlock|pthread_rwlock_unlock|pthread_spin_unlock|PyEval_ReleaseLock)\s*\(")
_CXX_GUARD = re.compile(r"\bstd::(lock_guard|unique_lock|scoped_lock)\b[^;]*;")
_COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


@dataclass(frozen=True)
class Region:
    start: int  # file offsets
    end: int
    kind: str  # "critical-section" | "lock"
    objects: tuple[str, ...]  # the guarded object / the lock expression, as written

    def covers(self, offset: int) -> bool:
        return self.start <= offset < self.end


def blank_comments(text: str) -> str:
    """Replace comments and literals by spaces (offsets stay the same)."""
    return _COMMENT_OR_STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _arg_list(text: str, open_paren: int) -> tuple[list[str], int]:
    depth, i, cur, out = 0, open_paren, [], []
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                out.append("".join(cur).strip())
                return [a for a in out if a], i + 1
        if ch == "," and depth == 1:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    return out, len(text)


def _norm(expr: str) -> str:
    """'&self->mutex' and '( self -> mutex )' compare equal; casts are dropped."""
    e = re.sub(r"\s+", "", expr)
    e = re.sub(r"^\((?:PyObject|[A-Za-z_]\w*)\*\)", "", e)
    e = re.sub(r"^_PyObject_CAST\((.*)\)$", r"\1", e)
    while e.startswith("(") and e.endswith(")"):
        e = e[1:-1]
    return e.lstrip("&")


def brace_depth(text: str, pos: int) -> int:
    """How many blocks are open at pos."""
    return text.count("{", 0, pos) - text.count("}", 0, pos)


def block_end(text: str, pos: int) -> int:
    """Offset of the '}' closing the block that contains pos (len(text) if none)."""
    depth = 0
    for i in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth < 0:
            return i
    return len(text)


def _body(tu: TUView, func: Node) -> tuple[str, int]:
    path, start, end = func.extent()[:3]
    return blank_comments(tu.text(path, start, end)), start


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?:\([^)]*\))?((?:[^\n\\]|\\.)*)", re.M | re.S)


def macro_definitions(tu: TUView) -> list[tuple[str, str]]:
    """(name, body) of every #define in the TU's project files, comments blanked (cached per TU)."""
    cached = tu.__dict__.get("_macro_definitions")
    if cached is None:
        cached = []
        for path in sorted(tu.files):
            src = tu.source(path)
            if b"define" in src:
                cached += [m.groups() for m in _DEFINE.finditer(blank_comments(src.decode("latin-1")))]
        tu.__dict__["_macro_definitions"] = cached
    return cached


def _wrappers(tu: TUView) -> tuple[re.Pattern, re.Pattern]:
    """Lock / unlock patterns including the project's own wrappers: a macro or a function of this TU
    whose body only locks (`#define LOCK() PyThread_acquire_lock(l, 1)`) or only unlocks, or only
    uses such a wrapper (`#define SHARE_LOCK(s) LOCK(&(s)->lock)`)."""
    cached = tu.__dict__.get("_lock_patterns")
    if cached is not None:
        return cached
    bodies = macro_definitions(tu) + [(fn.spelling, _body(tu, fn)[0]) for fn in tu.functions]
    pats, found = (_LOCK, _UNLOCK), (set(), set())
    for _ in range(4):  # wrappers of wrappers, a few levels deep
        locks: set[str] = set()
        unlocks: set[str] = set()
        for name, body in bodies:
            has_lock, has_unlock = bool(pats[0].search(body)), bool(pats[1].search(body))
            if has_lock != has_unlock:
                (locks if has_lock else unlocks).add(name)
        if (locks, unlocks) == found:
            break
        found = (locks, unlocks)
        pats = tuple(re.compile(p.pattern.replace(r"\b(", r"\b(" + "".join(f"{re.escape(n)}|" for n in
                                                                        sorted(extra)), 1))
                     for p, extra in ((_LOCK, locks), (_UNLOCK, unlocks)))
    tu.__dict__["_lock_patterns"] = pats
    return pats


def regions(tu: TUView, func: Node) -> list[Region]:
    """Critical sections and locked stretches of one function (cached per function)."""
    cache = tu.__dict__.setdefault("_regions", {})
    key = id(func)
    if key in cache:
        return cache[key]
    text, base = _body(tu, func)
    out: list[Region] = []
    events = [(m.start(), "b", m) for m in _CS_BEGIN.finditer(text)]
    events += [(m.start(), "e", m) for m in _CS_END.finditer(text)]
    stack: list[tuple[int, tuple[str, ...]]] = []
    for pos, what, m in sorted(events, key=lambda e: e[0]):
        if what == "b":
            args, _ = _arg_list(text, m.end() - 1)
            stack.append((pos, tuple(_norm(a) for a in args)))
        elif stack:
            start, objs = stack.pop()
            out.append(Region(base + start, base + m.end(), "critical-section", objs))
    held: dict[str, tuple[int, int]] = {}  # lock -> (where it was taken, brace depth there)
    lock_re, unlock_re = _wrappers(tu)
    lock_events = [(m.start(), "l", m) for m in lock_re.finditer(text)]
    lock_events += [(m.start(), "u", m) for m in unlock_re.finditer(text)]
    for pos, what, m in sorted(lock_events, key=lambda e: e[0]):
        args, _ = _arg_list(text, m.end() - 1)
        lock = _norm(args[0]) if args else "()"  # LOCK() / UNLOCK() wrappers pair with each other
        if what == "l":
            held.setdefault(lock, (pos, brace_depth(text, pos)))
        elif lock in held:
            start, depth = held.pop(lock)
            out.append(Region(base + start, base + m.end(), "lock", (lock,)))
            if brace_depth(text, pos) > depth:  # `if (err) { UNLOCK(); return -1; }`: held after it
                held[lock] = (block_end(text, pos), depth)
    for start, _ in held.values():  # locked and never unlocked in this function: to its end
        out.append(Region(base + start, base + len(text), "lock", ()))
    for m in _CXX_GUARD.finditer(text):  # RAII guard: to the end of the enclosing block
        depth, i = 0, m.end()
        while i < len(text) and depth >= 0:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(Region(base + m.start(), base + i, "lock", ()))
    cache[key] = out
    return out


def guard_at(tu: TUView, func: Node | None, offset: int, obj: str | None = None) -> Region | None:
    """The region guarding `offset`; with obj, only a critical section on that object (or any lock)."""
    if func is None:
        return None
    want = _norm(obj) if obj else None
    for r in regions(tu, func):
        if not r.covers(offset):
            continue
        if want is None or r.kind == "lock" or want in r.objects:
            return r
    return None
