"""What is a lock: the one place that decides which calls take or release one (guards.py builds the
guarded regions of a function from what it finds here).

data/locks.toml lists the lock and unlock calls (PyMutex_Lock, pthread_mutex_unlock ...) and the
critical sections (Py_BEGIN_CRITICAL_SECTION ...).  Projects wrap them, and each wrapper is a lock or
an unlock too:
- a macro of the project's files whose definition, in any preprocessor branch, uses only lock names
  or only unlock names (`#define STATE_LOCK() PyMutex_Lock(&state_lock)`, often empty on GIL builds,
  so the expansion says nothing; version-dependent definitions; macros over such macros).  A macro
  that opens a critical section is a lock: the object it names is not visible where it is used;
- a function of the TU that returns holding a lock it took (`static void setup(void) { LOCK(); ... }`)
  is a lock at its call sites, one that starts by releasing its caller's lock is an unlock.
Macros are matched as words (`LOCK;` as well as `LOCK()`), everything else as calls.
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

from extmigrate.analysis.text import arg_list, blanked, calls_in, macro_definitions, norm
from extmigrate.tree import Node, TUView

_WORD = re.compile(r"[A-Za-z_]\w*")
_LEVELS = 5  # wrappers of wrappers, a few levels deep


@lru_cache(maxsize=None)
def names(kind: str) -> frozenset[str]:
    """One list of data/locks.toml: lock, unlock, critical_section_begin, critical_section_end ..."""
    text = resources.files("extmigrate").joinpath("data/locks.toml").read_text()
    return frozenset(tomllib.loads(text)[kind])


@dataclass(frozen=True)
class Event:
    start: int  # file offsets of the name and just past it (past its '(' for a call)
    end: int
    what: str  # "lock" | "unlock" | "begin" | "end" (the last two: a critical section)
    args: tuple[str, ...]  # normalised arguments: the lock / the guarded objects


@dataclass(frozen=True)
class LockNames:
    locks: frozenset[str]  # lock calls and the project's lock wrappers
    unlocks: frozenset[str]
    macros: re.Pattern | None  # the project's wrapper macros, as words


def _builtin() -> frozenset[str]:
    return (names("lock") | names("unlock") | names("critical_section_begin")
            | names("critical_section_end"))


def _macro_words(tu: TUView) -> dict[str, set[str]]:
    """Macro name -> the words of all its definitions (every preprocessor branch)."""
    builtin = _builtin()
    words: dict[str, set[str]] = {}
    for name, body in macro_definitions(tu):
        if name not in builtin:
            words.setdefault(name, set()).update(_WORD.findall(body))
    return words


def _pattern(macros: set[str]) -> re.Pattern | None:
    return re.compile(r"\b(" + "|".join(map(re.escape, sorted(macros))) + r")\b") if macros else None


def _mentions(tu: TUView, fn: Node, macros: re.Pattern | None) -> list[tuple[int, int, str]]:
    """(offset, '(' offset or -1, name) of the calls in a function and of the uses of wrapper
    macros not written as calls (`LOCK;`)."""
    path, base, stop = fn.extent()[:3]
    found = list(calls_in(tu, path, base, stop))
    if macros is not None:
        text = blanked(tu, path)
        for m in macros.finditer(text, base, stop):
            rest = text[m.end():m.end() + 80].lstrip()
            if not rest.startswith("("):
                found.append((m.start(), -1, m.group(1)))
        found.sort()
    return found


def _net(steps: list[int]) -> int:
    """+1: ends on a lock (takes it for the caller); -1: starts with an unlock (releases the caller's);
    error paths that unlock before returning sit between the two."""
    if not steps or (steps[0] < 0 and steps[-1] > 0):
        return 0
    return 1 if steps[-1] > 0 else (-1 if steps[0] < 0 else 0)


def lock_names(tu: TUView) -> LockNames:
    """The TU's lock and unlock names, its wrapper macros and helper functions included (cached)."""
    cached = tu.__dict__.get("_lock_names")
    if cached is not None:
        return cached
    words = _macro_words(tu)
    base_locks, base_unlocks = names("lock"), names("unlock")
    cs_begin, cs_end = names("critical_section_begin"), names("critical_section_end")
    fn_locks: set[str] = set()
    fn_unlocks: set[str] = set()
    found: tuple = ()
    defined = {f.spelling: f for f in tu.functions}  # the last definition, as a name lookup finds it
    for _ in range(_LEVELS):
        locks, unlocks = base_locks | fn_locks, base_unlocks | fn_unlocks
        mac_locks, mac_unlocks = set(), set()
        for _ in range(_LEVELS):
            lk, ul = locks | cs_begin | mac_locks, unlocks | cs_end | mac_unlocks
            new = ({n for n, w in words.items() if not w.isdisjoint(lk) and w.isdisjoint(ul)},
                   {n for n, w in words.items() if not w.isdisjoint(ul) and w.isdisjoint(lk)})
            if new == (mac_locks, mac_unlocks):
                break
            mac_locks, mac_unlocks = new
        lk, ul = locks | mac_locks, unlocks | mac_unlocks
        pattern = _pattern(mac_locks | mac_unlocks)
        fn_locks, fn_unlocks = set(), set()
        for name, f in defined.items():
            if name in words or name in base_locks or name in base_unlocks:
                continue
            net = _net([1 if n in lk else -1 for _, _, n in _mentions(tu, f, pattern)
                        if (n in lk or n in ul) and n != name])
            (fn_locks if net > 0 else fn_unlocks if net < 0 else set()).add(name)
        if found == (mac_locks, mac_unlocks, fn_locks, fn_unlocks):
            break
        found = (mac_locks, mac_unlocks, fn_locks, fn_unlocks)
    cached = LockNames(frozenset(lk), frozenset(ul), pattern)
    tu.__dict__["_lock_names"] = cached
    return cached


def events(tu: TUView, fn: Node) -> list[Event]:
    """The lock, unlock and critical-section events written in a function, in order (cached)."""
    cache = tu.__dict__.setdefault("_lock_events", {})
    if id(fn) in cache:
        return cache[id(fn)]
    ln = lock_names(tu)
    begin, end = names("critical_section_begin"), names("critical_section_end")
    text = blanked(tu, fn.path)
    out = []
    for pos, paren, name in _mentions(tu, fn, ln.macros):
        what = ("lock" if name in ln.locks else "unlock" if name in ln.unlocks else
                "begin" if name in begin else "end" if name in end else None)
        if what is None or name == fn.spelling:
            continue
        if paren < 0:
            out.append(Event(pos, pos + len(name), what, ()))
        else:
            args, _ = arg_list(text, paren)
            out.append(Event(pos, paren + 1, what, tuple(norm(a) for a in args)))
    cache[id(fn)] = out
    return out


def releases_callers_lock(tu: TUView, fn: Node) -> bool:
    """Does the function start by releasing a lock its caller took (so it starts holding one)?"""
    return _net([1 if e.what == "lock" else -1 for e in events(tu, fn) if e.what in ("lock", "unlock")]) < 0
