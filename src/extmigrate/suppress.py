"""Inline suppressions (`/* extmigrate: ignore[CODE] reason */`) and baselines."""

from __future__ import annotations

import json
import os
import re

from extmigrate.fileio import write_file
from extmigrate.model import Finding

_MARK = re.compile(rb"extmigrate:\s*ignore(?:\[([A-Za-z0-9_,\s-]*)\])?")


def _codes_on(line: bytes) -> set[str] | None:
    """Codes suppressed by a comment on this line; {'*'} for a bare ignore; None for none."""
    if b"extmigrate" not in line:
        return None
    out: set[str] = set()
    for m in _MARK.finditer(line):
        if m.group(1) is None:
            out.add("*")
        else:
            out.update(c.strip().decode("ascii", "replace") for c in m.group(1).split(b",") if c.strip())
    return out or None


def _matches(f: Finding, codes: set[str]) -> bool:
    """`ignore[FT301]`, `ignore[static-mutable-global]`, `ignore[static-state]`, `ignore[ALL]`."""
    return bool({c.upper() for c in codes} & {"*", "ALL", f.code}) or bool({f.name, f.category} & codes)


_COMMENT_LINE = re.compile(rb"^\s*(//|/\*|\*)")


def is_suppressed(f: Finding, lines: list[bytes]) -> bool:
    """Suppressed by a marker on the finding's line, or on a comment line right before it."""
    for ln in (f.line, f.line - 1):
        if 0 < ln <= len(lines):
            text = lines[ln - 1]
            if ln != f.line and not _COMMENT_LINE.match(text):
                continue  # code on the line before carries its own marker, not this line's
            codes = _codes_on(text)
            if codes and _matches(f, codes):
                return True
    return False


def apply_suppressions(findings: list[Finding]) -> tuple[list[Finding], int]:
    cache: dict[str, list[bytes]] = {}
    kept, dropped = [], 0
    for f in findings:
        lines = cache.get(f.path)
        if lines is None:
            try:
                with open(f.path, "rb") as fh:
                    lines = fh.read().split(b"\n")
            except OSError:
                lines = []
            cache[f.path] = lines
        if is_suppressed(f, lines):
            dropped += 1
        else:
            kept.append(f)
    return kept, dropped


class BaselineError(Exception):
    pass


def baseline_key(f: Finding, root: str) -> str:
    """Rule, file, function and symbol: no line number, so edits above a finding keep its key."""
    rel = os.path.relpath(f.path, root) if root else f.path
    return f"{f.code}:{rel.replace(os.sep, '/')}:{f.function or ''}:{f.symbol}"


def write_baseline(path: str, findings: list[Finding], root: str) -> None:
    counts: dict[str, int] = {}
    for f in findings:
        counts[baseline_key(f, root)] = counts.get(baseline_key(f, root), 0) + 1
    doc = {"version": 1, "tool": "extmigrate", "findings": [
        {"key": k, "count": n} for k, n in sorted(counts.items())]}
    write_file(path, (json.dumps(doc, indent=2) + "\n").encode())


def read_baseline(path: str) -> dict[str, int]:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        return {str(e["key"]): int(e.get("count", 1)) for e in doc["findings"]}
    except OSError as e:
        raise BaselineError(f"cannot read baseline {path}: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        raise BaselineError(f"baseline {path} is not an extmigrate baseline ({e})") from None
    except RecursionError:
        raise BaselineError(f"baseline {path} is not an extmigrate baseline (nested too deeply)") from None


def apply_baseline(findings: list[Finding], baseline: dict[str, int], root: str) -> tuple[list[Finding], int]:
    budget = dict(baseline)
    kept, dropped = [], 0
    for f in findings:
        k = baseline_key(f, root)
        if budget.get(k, 0) > 0:
            budget[k] -= 1
            dropped += 1
        else:
            kept.append(f)
    return kept, dropped
