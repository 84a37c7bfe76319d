"""What every rule is: metadata, docs, a per-TU check and an optional project-wide step."""

from __future__ import annotations

from typing import Any, ClassVar

from extmigrate.model import Finding, Site
from extmigrate.tree import Node, TUView, Use


class Rule:
    code: ClassVar[str]  # "FT101"
    name: ClassVar[str]  # "borrowed-list-item"
    category: ClassVar[str]  # one of model.CATEGORIES
    severity: ClassVar[str] = "warning"
    summary: ClassVar[str]  # one line, shown by `extmigrate rules`
    explanation: ClassVar[str]  # why it breaks without the GIL
    action: ClassVar[str]  # what to do
    doc: ClassVar[str] = ""  # markdown for `extmigrate explain`, with a before/after example
    # Rules whose finish() needs every other rule's findings (e.g. "declared GIL-free too early").
    runs_last: ClassVar[bool] = False

    def check(self, tu: TUView) -> list[Finding]:
        """Findings local to one translation unit."""
        return []

    def collect(self, tu: TUView) -> Any:
        """JSON-able facts for finish(); None when the rule has no project-wide step."""
        return None

    def check_files(self, roots: list[str]) -> list[Finding]:
        """Findings from non-C project files (setup.py, CMakeLists.txt ...), read as text, once per scan."""
        return []

    def finish(self, facts: list[Any], findings: list[Finding]) -> list[Finding]:
        """Project-wide findings from every TU's facts (and, for runs_last rules, all findings).

        May also remove, in place from `findings`, the rule's own per-TU findings that the
        project-wide facts disprove (the FT1xx rules do: analysis/borrowed_project.py)."""
        return []

    # -- helpers for rules --------------------------------------------------------------------------
    def finding(self, where: Node | Use | tuple, symbol: str, message: str, *,
                function: str | None = None, explanation: str | None = None,
                action: str | None = None, related: list[Site] | None = None,
                data: dict | None = None) -> Finding:
        """Build a finding at a node, a use, or an extent tuple (path, start, end, l, c, el, ec)."""
        if isinstance(where, Use):
            ext = (where.path, where.start, where.end, where.line, where.column, where.end_line,
                   where.end_column)
            if function is None:
                function = where.function_name
        elif isinstance(where, Node):
            ext = where.extent()
            if function is None and where.func is not None:
                function = where.func.spelling
        else:
            ext = where
        path, start, end, line, col, eline, ecol = ext
        d = {"start": start, "end": end}
        d.update(data or {})
        return Finding(
            code=self.code, name=self.name, category=self.category, severity=self.severity,
            path=path, line=line, column=col, end_line=eline, end_column=ecol, function=function,
            symbol=symbol, message=message, explanation=explanation or self.explanation,
            action=action or self.action, related=list(related or []), data=d,
        )
