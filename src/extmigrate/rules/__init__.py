"""The rule registry: every module in this package defines rules with @register."""

from __future__ import annotations

import importlib
import pkgutil

from extmigrate.model import CATEGORIES
from extmigrate.rules.base import Rule

_RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    assert cls.category in CATEGORIES, cls
    assert cls.code not in _RULES, f"duplicate rule code {cls.code}"
    _RULES[cls.code] = cls
    return cls


def _load() -> None:
    if _RULES:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


def all_rules() -> list[type[Rule]]:
    _load()
    return [_RULES[c] for c in sorted(_RULES)]


def get_rule(key: str) -> type[Rule] | None:
    """By code (FT101) or name (borrowed-list-item)."""
    _load()
    if key.upper() in _RULES:
        return _RULES[key.upper()]
    return next((r for r in _RULES.values() if r.name == key), None)


def select_rules(select: list[str] | None, ignore: list[str] | None) -> list[type[Rule]]:
    """--select/--ignore by code, code prefix, name or category."""

    def matches(rule: type[Rule], key: str) -> bool:
        k = key.strip()
        return (rule.code.upper().startswith(k.upper()) or rule.name == k or rule.category == k
                or k.upper() == "ALL")

    rules = all_rules()
    if select:
        rules = [r for r in rules if any(matches(r, k) for k in select)]
    if ignore:
        rules = [r for r in rules if not any(matches(r, k) for k in ignore)]
    return rules


def unknown_keys(keys: list[str]) -> list[str]:
    rules = all_rules()
    out = []
    for k in keys:
        k = k.strip()
        if k.upper() == "ALL" or k in CATEGORIES:
            continue
        if not any(r.code.upper().startswith(k.upper()) or r.name == k for r in rules):
            out.append(k)
    return out
