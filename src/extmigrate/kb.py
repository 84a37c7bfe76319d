"""Typed access to data/apis.toml: borrowed-reference APIs, fresh containers, reference ownership.

Loaded once per process (`load()` is cached); the TOML file is the single source of the facts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class BorrowedApi:
    name: str
    rule: str
    kind: str  # "call" | "macro"
    container: int | None  # argument index of the container, None when implicit
    holds: str  # list | dict | sequence-fast | weakref | cell | modules
    remedy: str  # replace | critical-section | replace-or-critical-section
    out: tuple[int, ...] = ()
    replacement: str | None = None
    since: str | None = None
    replacement_form: str | None = None  # "return" | "out"
    compat: str | None = None
    private: bool = False
    struct: str | None = None  # kind "member": the struct whose field is read directly


@dataclass(frozen=True)
class KB:
    borrowed: dict[str, BorrowedApi]
    fresh: dict[str, str]  # call -> kind of fresh container it returns
    build_value: frozenset[str]
    same_or_tuple: frozenset[str]
    immutable: frozenset[str]  # calls returning a new number/string/bytes
    wrapper_getters: tuple[str, ...]  # C++ `ref.get()`: the pointer an owning wrapper holds
    keeps_private: dict[str, tuple[int, ...]]
    reads_only: dict[str, tuple[int, ...]]  # neither stores nor changes these arguments
    new_refs: frozenset[str]
    new_out: dict[str, int]
    borrowed_safe: frozenset[str]
    borrowed_shared: frozenset[str]
    python_fresh: dict  # [python_fresh]: Python functions returning a new container, reached by name

    def for_rule(self, code: str) -> list[BorrowedApi]:
        return [a for a in self.borrowed.values() if a.rule == code]

    def returns_new(self, name: str) -> bool:
        return name in self.new_refs

    def returns_borrowed(self, name: str) -> bool:
        return name in self.borrowed or name in self.borrowed_safe or name in self.borrowed_shared


@lru_cache(maxsize=None)
def load() -> KB:
    text = resources.files("extmigrate").joinpath("data/apis.toml").read_text("utf-8")
    d = tomllib.loads(text)
    borrowed = {}
    for name, e in d["borrowed"].items():
        borrowed[name] = BorrowedApi(
            name=name, rule=e["rule"], kind=e["kind"], container=e.get("container"),
            holds=e["holds"], remedy=e["remedy"], out=tuple(e.get("out", ())),
            replacement=e.get("replacement"), since=e.get("since"),
            replacement_form=e.get("replacement_form"), compat=e.get("compat"),
            private=bool(e.get("private", False)), struct=e.get("struct"))
    refs = d["refs"]
    return KB(
        borrowed=borrowed,
        fresh=dict(d["fresh"]),
        build_value=frozenset(d["shapes"]["build_value"]),
        same_or_tuple=frozenset(d["shapes"]["same_or_tuple"]),
        immutable=frozenset(d["shapes"]["immutable"]),
        wrapper_getters=tuple(d["shapes"]["wrapper_getters"]),
        keeps_private={k: tuple(v) for k, v in d["keeps_private"].items()},
        reads_only={k: tuple(v) for k, v in d["reads_only"].items()},
        new_refs=frozenset(refs["new"]),
        new_out=dict(refs["new_out"]),
        borrowed_safe=frozenset(refs["borrowed_safe"]),
        borrowed_shared=frozenset(refs["borrowed_shared"]),
        python_fresh=d["python_fresh"],
    )
