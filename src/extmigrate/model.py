"""The findings model shared by rules, the fix layer and the reporters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CATEGORIES = ("borrowed-ref", "module-gil", "static-state", "allocator", "other")
SEVERITIES = ("error", "warning", "note")


@dataclass
class Site:
    """A secondary location of a finding (another write site, the container's creation, ...)."""

    path: str
    line: int
    column: int
    note: str = ""


@dataclass
class GroupSite(Site):
    """One of the places a root-cause finding stands for (a method calling the helper that races),
    addressable on its own: suppressions and baselines can name it by its function and symbol."""

    function: str | None = None
    symbol: str = ""


@dataclass
class Finding:
    code: str
    name: str
    category: str
    severity: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    function: str | None
    symbol: str
    message: str
    explanation: str
    action: str
    related: list[Site] = field(default_factory=list)
    # Filled by the fix layer: {"applicability": "safe"|"unsafe", "description": str, "edits": [...]}
    fix: dict[str, Any] | None = None
    # Rule-private data the fix layer needs (byte offsets, shapes); never shown to users.
    data: dict[str, Any] = field(default_factory=dict)
    # "low" when the enclosing function's body has parse errors: shown apart, not counted.
    confidence: str = "high"
    # The -D flags of the extra configuration that compiled this code ([]: the scan's own flags).
    config: list[str] = field(default_factory=list)
    # A root-cause finding: every place it stands for (empty for an ordinary finding).
    sites: list[GroupSite] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Baseline key: robust to line drift."""
        return f"{self.code}:{self.path}:{self.function or ''}:{self.symbol}"

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code, self.symbol)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fixable"] = self.fix is not None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        d = dict(d)
        d.pop("fixable", None)
        d["related"] = [Site(**s) for s in d.get("related", [])]
        d["sites"] = [GroupSite(**s) for s in d.get("sites", [])]
        return cls(**d)


@dataclass
class Diagnostic:
    """A clang diagnostic or a front-end problem with one file."""

    path: str
    line: int
    column: int
    severity: str  # "error" | "fatal" | "warning" | "skipped" | "timeout"
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
