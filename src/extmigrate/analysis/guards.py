"""Guarded regions inside a function: critical sections and lock/unlock pairs.

Found in the function's source text rather than its AST, so that a critical section is recognised
whatever headers the file was parsed against (the macros do not exist before 3.13, and expand to a
bare `{` on GIL builds).  Comments and string literals are blanked first.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis.text import (CALL, arg_list, blanked, block_end, brace_depth, calls_in,
                                     macro_definitions, norm)
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


@dataclass(frozen=True)
class Region:
    start: int  # file offsets
    end: int
    kind: str  # "critical-section" | "lock"
    objects: tuple[str, ...]  # the guarded object / the lock expression, as written

    def covers(self, offset: int) -> bool:
        return self.start <= offset < self.end


def _wrappers(tu: TUView) -> tuple[frozenset[str], frozenset[str]]:
    """Lock / unlock call names including the project's own wrappers: a macro or a function of this
    TU whose body only locks (`#define LOCK() PyThread_acquire_lock(l, 1)`) or only unlocks, or only
    uses such a wrapper (`#define SHARE_LOCK(s) LOCK(&(s)->lock)`)."""
    cached = tu.__dict__.get("_lock_names")
    if cached is not None:
        return cached
    bodies = [(name, {m.group(1) for m in CALL.finditer(body)}) for name, body in macro_definitions(tu)]
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
            args, _ = arg_list(text, paren)
            stack.append((pos, tuple(norm(a) for a in args)))
        elif name in end and stack:
            if brace_depth(text, pos) > brace_depth(text, stack[-1][0]):
                continue  # `{ PyCriticalSection_End(&cs); return x; }`: an early exit, held after it
            start, objs = stack.pop()
            out.append(Region(base + start, base + paren + 1, "critical-section", objs))
    held: dict[str, tuple[int, int]] = {}  # lock -> (where it was taken, brace depth there)
    for pos, paren, name in calls:
        if name not in locks and name not in unlocks:
            continue
        args, _ = arg_list(text, paren)
        lock = norm(args[0]) if args else "()"  # LOCK() / UNLOCK() wrappers pair with each other
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
    want = norm(obj) if obj else None
    for r in regions(tu, func):
        if not r.covers(offset):
            continue
        if want is None or r.kind == "lock" or want in r.objects:
            return r
    return None
