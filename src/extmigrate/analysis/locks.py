"""Locks held through a project's own lock macros and lock helper functions.

regions.py knows the lock calls themselves (PyMutex_Lock, pthread_mutex_lock ...). Projects wrap them:
`#define STATE_LOCK() PyMutex_Lock(&state_lock)` (often empty on GIL builds, so the expansion says
nothing) or `static void setup(void) { LOCK(); setutxent(); }` paired with a `teardown()` that
unlocks. Here a macro whose definition, in any preprocessor branch, calls a lock function is a lock,
and a function that ends holding a lock it took (or releases one it did not take) acts like one at
its call sites.
"""

from __future__ import annotations

import re

from extmigrate.analysis.guards import _CS_BEGIN, _CS_END, _LOCK, _UNLOCK, names
from extmigrate.analysis.text import blanked, block_end, brace_depth, calls_in, macro_definitions
from extmigrate.tree import Node, TUView

# A critical section on a global object (`#define LOCK() Py_BEGIN_CRITICAL_SECTION(&dummy)`) is a lock.
_LOCK_OR_CS = re.compile(_LOCK.pattern + "|" + _CS_BEGIN.pattern)
_UNLOCK_OR_CS = re.compile(_UNLOCK.pattern + "|" + _CS_END.pattern)


def lock_macros(tu: TUView) -> tuple[set[str], set[str]]:
    """(lock macro names, unlock macro names) defined in the TU's project files, macros over such
    macros included (`#define SHARE_LOCK(s) MUTEX_LOCK(&(s)->lock)`)."""
    cached = tu.__dict__.get("_lock_macros")
    if cached is None:
        defs = macro_definitions(tu)
        lock_re, unlock_re, cached = _LOCK_OR_CS, _UNLOCK_OR_CS, (set(), set())
        for _ in range(4):  # a few levels of macros over macros
            locks = {name for name, body in defs if lock_re.search(body) and not unlock_re.search(body)}
            unlocks = {name for name, body in defs if unlock_re.search(body)}
            if (locks, unlocks) == cached:
                break
            cached = (locks, unlocks)
            lock_re, unlock_re = (re.compile(rf"\b(?:{'|'.join(map(re.escape, sorted(names)))})\b|" + p.pattern)
                                  if names else p
                                  for p, names in ((_LOCK_OR_CS, locks), (_UNLOCK_OR_CS, unlocks)))
        tu.__dict__["_lock_macros"] = cached
    return cached


def _macro_pattern(tu: TUView) -> re.Pattern | None:
    """Any lock or unlock macro name as a word (once per TU)."""
    if "_lock_macro_re" not in tu.__dict__:
        locks, unlocks = lock_macros(tu)
        names = locks | unlocks
        tu.__dict__["_lock_macro_re"] = re.compile(
            r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b") if names else None
    return tu.__dict__["_lock_macro_re"]


def _own_events(tu: TUView, fn: Node) -> list[tuple[int, int]]:
    """(file offset, +1 lock / -1 unlock) written in the function's own text (cached)."""
    cache = tu.__dict__.setdefault("_own_lock_events", {})
    if id(fn) in cache:
        return cache[id(fn)]
    locks, _ = lock_macros(tu)
    path, base, end = fn.extent()[:3]
    # the lock calls (_LOCK, _UNLOCK) from the file's call index rather than two regexes per body
    lock, unlock = names("lock"), names("unlock")
    calls = calls_in(tu, path, base, end)
    events = [(pos, 1) for pos, _, name in calls if name in lock]
    events += [(pos, -1) for pos, _, name in calls if name in unlock]
    pattern = _macro_pattern(tu)
    if pattern is not None:
        text = blanked(tu, path)[base:end]
        events += [(base + m.start(), 1 if m.group(1) in locks else -1) for m in pattern.finditer(text)]
    events.sort()
    cache[id(fn)] = events
    return events


def net(tu: TUView, fn: Node) -> int:
    """+1: the function returns holding a lock it took; -1: it releases one it did not take (its last
    / first lock event; error paths that unlock before returning sit between the two)."""
    cache = tu.__dict__.setdefault("_lock_net", {})
    if id(fn) not in cache:
        steps = [step for _, step in _own_events(tu, fn)]
        if not steps or (steps[0] < 0 and steps[-1] > 0):
            cache[id(fn)] = 0
        else:  # ends on a lock: takes it for the caller; starts with an unlock: releases the caller's
            cache[id(fn)] = 1 if steps[-1] > 0 else (-1 if steps[0] < 0 else 0)
    return cache[id(fn)]


def _events(tu: TUView, fn: Node) -> list[tuple[int, int]]:
    """The function's own lock events plus calls of lock/unlock helper functions (cached)."""
    cache = tu.__dict__.setdefault("_lock_events", {})
    if id(fn) not in cache:
        events = list(_own_events(tu, fn))
        for name, f, step in _helpers(tu):
            if f is not fn:
                events += [(u.start, step) for u in tu.uses.get(name, ()) if u.func is fn and not u.macro]
        cache[id(fn)] = sorted(events)
    return cache[id(fn)]


def _helpers(tu: TUView) -> list[tuple[str, Node, int]]:
    """(name, definition, net) of the TU's functions that take or release a lock for their caller
    (the last definition of a name, as a name lookup would find it; once per TU)."""
    found = tu.__dict__.get("_lock_helpers")
    if found is None:
        defined = {f.spelling: f for f in tu.functions}
        found = tu.__dict__["_lock_helpers"] = [(name, f, net(tu, f)) for name, f in defined.items()
                                                if net(tu, f)]
    return found


def held(tu: TUView, fn: Node | None, offset: int) -> bool:
    """Is a lock held at offset, counting lock macros and calls of lock/unlock helper functions?

    An unlock nested deeper than its lock (`if (err) { UNLOCK(); return -1; }`) ends at its block;
    a function that releases its caller's lock starts with it held."""
    if fn is None:
        return False
    events = _events(tu, fn)
    if not events and net(tu, fn) >= 0:
        return False
    base = fn.start
    text = blanked(tu, fn.path)[base:fn.end]
    locked_at: list[int] = [0] if net(tu, fn) < 0 else []  # brace depths of the held locks
    relock: list[tuple[int, int]] = []  # (offset, depth) where an early-exit unlock's block ends
    for pos, step in events + [(offset, 0)]:
        for r in [r for r in relock if r[0] <= pos]:
            relock.remove(r)
            locked_at.append(r[1])
        if pos >= offset:
            break
        depth = brace_depth(text, pos - base)
        if step > 0:
            locked_at.append(depth)
        elif locked_at:
            outer = locked_at.pop()
            if depth > outer:
                relock.append((base + block_end(text, pos - base), outer))
    return bool(locked_at)
