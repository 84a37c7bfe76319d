"""The base class and wording of the borrowed-reference rules (FT1xx); defines no rule.

The analysis they share is analysis/borrowed.py (one file) and analysis/borrowed_project.py (across files).
"""

from __future__ import annotations

import re

from extmigrate import kb
from extmigrate.analysis import borrowed_project
from extmigrate.analysis.borrowed import KB, UNTRACKED, check_uses
from extmigrate.model import Finding
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView


def replacement_text(api: kb.BorrowedApi) -> str:
    """'PyList_GetItemRef (3.13+, compat shim for older Pythons)'."""
    if api.compat == "all":
        return f"{api.replacement} (every supported Python has it)"
    return f"{api.replacement} ({api.since}+, compat shim for older Pythons)"


def call_text(api: kb.BorrowedApi, args: list[str]) -> str:
    shown = ", ".join(re.sub(r"\s+", " ", a) for a in args)
    return f"{api.name}({shown if len(shown) <= 60 else shown[:57] + '...'})"


def replace_message(api: kb.BorrowedApi, args: list[str], threat: str, tail: str = "") -> str:
    """'<call> returns a borrowed reference; <threat> while it is in use: use <X> and release it'."""
    return (f"{call_text(api, args)} returns a borrowed reference; {threat} while it is in use: "
            f"use {replacement_text(api)} and release the reference{tail}")


class BorrowedRule(Rule):
    """Base of the FT1xx rules: the APIs come from data/apis.toml, the wording from message()."""

    category = "borrowed-ref"
    severity = "warning"

    def message(self, api: kb.BorrowedApi, container: str, args: list[str]) -> str:
        raise NotImplementedError

    def check(self, tu: TUView) -> list[Finding]:
        return check_uses(self, tu, KB.for_rule(self.code), self.message)

    def collect(self, tu: TUView) -> dict | None:
        if all(a.container is None or a.holds in UNTRACKED for a in KB.for_rule(self.code)):
            return None  # no container is judged: no finding carries assumptions
        return borrowed_project.facts(tu)

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        """Drops this rule's findings whose every assumption (`data["assumes"]`) other files prove."""
        borrowed_project.drop_proven(facts, findings, self.code)
        return []
