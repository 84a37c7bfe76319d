"""Guarded regions inside a function: critical sections and locked stretches, the one answer every
rule gets to "is this line guarded?".

What takes or releases a lock is decided in locks.py; here its events are paired.  Found in the
function's source text rather than its AST, so that a critical section is recognised whatever headers
the file was parsed against (the macros do not exist before 3.13, and expand to a bare `{` on GIL
builds).  An unlock nested deeper than its lock (`if (err) { UNLOCK(); return NULL; }`) is an early
exit: the lock is held again after its block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extmigrate.analysis.locks import events, names, releases_callers_lock
from extmigrate.analysis.text import blanked, block_end, brace_depth, norm
from extmigrate.tree import Node, TUView

_CXX_GUARD = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names("raii_guard")))) + r")\b[^;]*;")
_CALLER = "(caller)"  # the lock a function that releases its caller's lock starts with


@dataclass(frozen=True)
class Region:
    start: int  # file offsets
    end: int
    kind: str  # "critical-section" | "lock"
    objects: tuple[str, ...]  # the guarded objects / the lock expression, normalised

    def covers(self, offset: int) -> bool:
        return self.start <= offset < self.end


def regions(tu: TUView, func: Node) -> list[Region]:
    """Critical sections and locked stretches of one function (cached per function)."""
    cache = tu.__dict__.setdefault("_regions", {})
    key = id(func)
    if key in cache:
        return cache[key]
    path, base, stop = func.extent()[:3]
    found = events(tu, func)
    starts_held = releases_callers_lock(tu, func)
    if not found and not starts_held and blanked(tu, path).find("std::", base, stop) < 0:
        cache[key] = []  # most functions: no lock, no critical section, no C++ guard
        return cache[key]
    text = blanked(tu, path)[base:stop]
    cache[key] = out = _sections(text, base, found) + _locked(text, base, found, starts_held)
    if "std::" in text:
        for m in _CXX_GUARD.finditer(text):  # RAII guard: to the end of the enclosing block
            end = min(block_end(text, m.end()) + 1, len(text))
            out.append(Region(base + m.start(), base + end, "lock", ()))
    return out


def _sections(text: str, base: int, found: list) -> list[Region]:
    out: list[Region] = []
    stack: list[tuple[int, tuple[str, ...]]] = []
    for e in found:
        if e.what == "begin":
            stack.append((e.start - base, e.args))
        elif e.what == "end" and stack:
            if brace_depth(text, e.start - base) > brace_depth(text, stack[-1][0]):
                continue  # `{ PyCriticalSection_End(&cs); return x; }`: an early exit, held after it
            start, objs = stack.pop()
            out.append(Region(base + start, e.end, "critical-section", objs))
    return out


def _locked(text: str, base: int, found: list, starts_held: bool) -> list[Region]:
    out: list[Region] = []
    held: dict[str, tuple[int, int]] = {}  # lock -> (where it was taken, brace depth there)
    if starts_held:  # from the function's start, at the depth of its body
        held[_CALLER] = (0, 1)
    for e in found:
        if e.what not in ("lock", "unlock"):
            continue
        pos = e.start - base
        lock = e.args[0] if e.args else "()"  # LOCK() / UNLOCK() wrappers pair with each other
        if e.what == "lock":
            held.setdefault(lock, (pos, brace_depth(text, pos)))
            continue
        if lock not in held:
            if not held:
                continue
            lock = list(held)[-1]  # `LOCK(self)` ... `UNLOCK()`: the lock taken last
        start, depth = held.pop(lock)
        out.append(Region(base + start, e.end, "lock", (lock,)))
        if brace_depth(text, pos) > depth:  # `if (err) { UNLOCK(); return -1; }`: held after it
            held[lock] = (block_end(text, pos), depth)
    for start, _ in held.values():  # locked and never unlocked in this function: to its end
        out.append(Region(base + start, base + len(text), "lock", ()))
    return out


def guard_at(tu: TUView, func: Node | None, offset: int, obj: str | None = None) -> Region | None:
    """The region guarding `offset`; with obj, only a lock or a critical section on that object."""
    if func is None:
        return None
    want = norm(obj) if obj else None
    for r in regions(tu, func):
        if r.covers(offset) and (want is None or r.kind == "lock" or want in r.objects):
            return r
    return None


def held(tu: TUView, func: Node | None, offset: int) -> bool:
    """Is a lock (not a critical section on some object) held at offset?"""
    return func is not None and any(r.kind == "lock" and r.covers(offset) for r in regions(tu, func))
