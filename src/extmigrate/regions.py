"""Guarded regions inside a function: critical sections and lock/unlock pairs.

Found in the function's source text rather than its AST, so that a critical section is recognised
whatever headers the file was parsed against (the macros do not exist before 3.13, and expand to a
bare `{` on GIL builds).  Comments and string literals are blanked first.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.tree import Node, TUView


@lru_cache(maxsize=None)
def names(kind: str) -> frozenset[str]:
    """One list of data/locks.toml: lock, unlock, critical_section_begin, critical_section_end ..."""
    text = resources.files("extmigrate").joinpath("data/locks.toml").read_text()
    return frozenset(tomllib.loads(text)[kind])


def _call_pattern(*kinds: str) -> re.Pattern:
    alternatives = sorted((n for k in kinds for n in names(k)), key=lambda n: (-len(n), n))
    return re.compile(r"\b(" + "|".join(map(re.escape, alternatives)) + r")\s*\(")


_CS_BEGIN = _call_pattern("critical_section_begin")
_CS_END = _call_pattern("critical_section_end")
_LOCK = _call_pattern("lock")
_UNLOCK = _call_pattern("unlock")
_CXX_GUARD = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names("raii_guard")))) + r")\b[^;]*;")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


@dataclass(frozen=True)
class Region:
    start: int  # file offsets
    end: int
    kind: str  # "critical-section" | "lock"
    objects: tuple[str, ...]  # the guarded object / the lock expression, as written

    def covers(self, offset: int) -> bool:
        return self.start <= offset < self.end


_NOT_NEWLINE = re.compile(r"[^\n]")


def _spaces(m: re.Match) -> str:
    s = m.group(0)
    return _NOT_NEWLINE.sub(" ", s) if "\n" in s else " " * len(s)


def blank_comments(text: str) -> str:
    """Replace comments and literals by spaces (offsets stay the same)."""
    return _COMMENT_OR_STRING.sub(_spaces, text)


_BY_CONTENT: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
_BY_CONTENT_BYTES = [0]
_BY_CONTENT_LIMIT = 8 << 20  # bytes of source kept as keys (a call index takes a few times that)


def by_content(what: str, data: bytes, make: Callable[[], Any]) -> Any:
    """make(), remembered across the TUs a worker analyses for a file of the same content: headers
    (Imaging.h, pythoncapi_compat.h) are read by most TUs of a project.  Results must not be changed."""
    key = (what, data)
    hit = _BY_CONTENT.get(key)
    if hit is not None:
        _BY_CONTENT.move_to_end(key)
        return hit
    hit = _BY_CONTENT[key] = make()
    _BY_CONTENT_BYTES[0] += len(data)
    while _BY_CONTENT_BYTES[0] > _BY_CONTENT_LIMIT and len(_BY_CONTENT) > 1:
        (_, old), _ = _BY_CONTENT.popitem(last=False)
        _BY_CONTENT_BYTES[0] -= len(old)
    return hit


def blanked(tu: TUView, path: str) -> str:
    """A file's text, comments and literals blanked, decoded as latin-1 so that character offsets
    are byte offsets (cached on the view: every rule that reads text shares it)."""
    cache = tu.__dict__.setdefault("_blanked", {})
    text = cache.get(path)
    if text is None:
        data = tu.source(path)
        text = cache[path] = by_content("blanked", data, lambda: blank_comments(data.decode("latin-1")))
    return text


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


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?:\([^)]*\))?((?:[^\n\\]|\\.)*)", re.M | re.S)


def macro_definitions(tu: TUView) -> list[tuple[str, str]]:
    """(name, body) of every #define in the TU's project files, comments blanked (cached per TU)."""
    cached = tu.__dict__.get("_macro_definitions")
    if cached is None:
        cached = []
        for path in sorted(tu.files):
            data = tu.source(path)
            if b"define" in data:
                cached += by_content("defines", data,
                                     lambda: [m.groups() for m in _DEFINE.finditer(blanked(tu, path))])
        tu.__dict__["_macro_definitions"] = cached
    return cached


def calls_in(tu: TUView, path: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(name offset, '(' offset, name) of every `name(` in a stretch of a file, comments blanked
    (one regex pass per file, cached: regions and lock wrappers of every function share it)."""
    cache = tu.__dict__.setdefault("_calls_in", {})
    found = cache.get(path)
    if found is None:
        found = cache[path] = by_content("calls", tu.source(path), lambda: _call_index(blanked(tu, path)))
    starts, calls = found
    return calls[bisect.bisect_left(starts, start):bisect.bisect_left(starts, end)]


def _call_index(text: str) -> tuple[list[int], list[tuple[int, int, str]]]:
    starts: list[int] = []
    calls: list[tuple[int, int, str]] = []
    for m in _CALL.finditer(text):
        starts.append(m.start())
        calls.append((m.start(), m.end() - 1, m.group(1)))
    return starts, calls


def _wrappers(tu: TUView) -> tuple[frozenset[str], frozenset[str]]:
    """Lock / unlock call names including the project's own wrappers: a macro or a function of this
    TU whose body only locks (`#define LOCK() PyThread_acquire_lock(l, 1)`) or only unlocks, or only
    uses such a wrapper (`#define SHARE_LOCK(s) LOCK(&(s)->lock)`)."""
    cached = tu.__dict__.get("_lock_names")
    if cached is not None:
        return cached
    bodies = [(name, {m.group(1) for m in _CALL.finditer(body)}) for name, body in macro_definitions(tu)]
    bodies += [(fn.spelling, {c[2] for c in calls_in(tu, fn.path, fn.start, fn.end)}) for fn in tu.functions]
    base = names("lock"), names("unlock")
    cached, found = base, (set(), set())
    for _ in range(4):  # wrappers of wrappers, a few levels deep
        locks: set[str] = set()
        unlocks: set[str] = set()
        for name, called in bodies:
            has_lock, has_unlock = not called.isdisjoint(cached[0]), not called.isdisjoint(cached[1])
            if has_lock != has_unlock:
                (locks if has_lock else unlocks).add(name)
        if (locks, unlocks) == found:
            break
        found = (locks, unlocks)
        cached = base[0] | locks, base[1] | unlocks
    tu.__dict__["_lock_names"] = cached
    return cached


def regions(tu: TUView, func: Node) -> list[Region]:
    """Critical sections and locked stretches of one function (cached per function)."""
    cache = tu.__dict__.setdefault("_regions", {})
    key = id(func)
    if key in cache:
        return cache[key]
    path, base, stop = func.extent()[:3]
    found = calls_in(tu, path, base, stop)
    locks, unlocks = _wrappers(tu)
    begin, end = names("critical_section_begin"), names("critical_section_end")
    wanted = tu.__dict__.get("_region_names")
    if wanted is None:
        wanted = tu.__dict__["_region_names"] = begin | end | locks | unlocks
    if all(c[2] not in wanted for c in found) and blanked(tu, path).find("std::", base, stop) < 0:
        cache[key] = []  # most functions: no lock call, no critical section, no C++ guard
        return cache[key]
    text = blanked(tu, path)[base:stop]
    calls = [(pos - base, paren - base, name) for pos, paren, name in found]
    out: list[Region] = []
    stack: list[tuple[int, tuple[str, ...]]] = []
    for pos, paren, name in calls:
        if name in begin:
            args, _ = _arg_list(text, paren)
            stack.append((pos, tuple(_norm(a) for a in args)))
        elif name in end and stack:
            if brace_depth(text, pos) > brace_depth(text, stack[-1][0]):
                continue  # `{ PyCriticalSection_End(&cs); return x; }`: an early exit, held after it
            start, objs = stack.pop()
            out.append(Region(base + start, base + paren + 1, "critical-section", objs))
    held: dict[str, tuple[int, int]] = {}  # lock -> (where it was taken, brace depth there)
    for pos, paren, name in calls:
        if name not in locks and name not in unlocks:
            continue
        args, _ = _arg_list(text, paren)
        lock = _norm(args[0]) if args else "()"  # LOCK() / UNLOCK() wrappers pair with each other
        if name in locks:
            held.setdefault(lock, (pos, brace_depth(text, pos)))
        elif lock in held:
            start, depth = held.pop(lock)
            out.append(Region(base + start, base + paren + 1, "lock", (lock,)))
            if brace_depth(text, pos) > depth:  # `if (err) { UNLOCK(); return -1; }`: held after it
                held[lock] = (block_end(text, pos), depth)
    for start, _ in held.values():  # locked and never unlocked in this function: to its end
        out.append(Region(base + start, base + len(text), "lock", ()))
    if "std::" in text:
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
