"""Inline suppressions (`/* extmigrate: ignore[CODE] reason */`) and baselines."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace

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
    """Drop suppressed findings. A root-cause finding is suppressed at its cause, or site by site (a
    marker at a call site drops that site; with none left the finding goes)."""
    cache: dict[str, list[bytes]] = {}

    def lines_of(path: str) -> list[bytes]:
        if path not in cache:
            try:
                with open(path, "rb") as fh:
                    cache[path] = fh.read().split(b"\n")
            except OSError:
                cache[path] = []
        return cache[path]

    kept, dropped = [], 0
    for f in findings:
        if not is_suppressed(f, lines_of(f.path)) and _keep_sites(
                f, lambda s: not is_suppressed(replace(f, path=s.path, line=s.line), lines_of(s.path))):
            kept.append(f)
        else:
            dropped += 1
    return kept, dropped


def _keep_sites(f: Finding, keep) -> bool:
    """Keep the sites of a root-cause finding that `keep` accepts; False when it had sites and none
    is left."""
    if not f.sites:
        return True
    gone = {(s.path, s.line, s.column) for s in f.sites if not keep(s)}
    f.sites = [s for s in f.sites if (s.path, s.line, s.column) not in gone]
    f.related = [r for r in f.related if (r.path, r.line, r.column) not in gone]
    if gone and f.sites:
        f.message += f" ({len(gone)} of these places suppressed or baselined)"
    return bool(f.sites)


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
    """Drop baselined findings. A root-cause finding matches by its own key, or site by site by the
    keys its sites had as separate findings (a baseline written before they were grouped)."""
    budget = dict(baseline)

    def take(k: str) -> bool:
        if budget.get(k, 0) > 0:
            budget[k] -= 1
            return True
        return False

    kept, dropped = [], 0
    for f in findings:
        if take(baseline_key(f, root)) or not _keep_sites(
                f, lambda s: not take(baseline_key(replace(f, path=s.path, function=s.function,
                                                           symbol=s.symbol), root))):
            dropped += 1
        else:
            kept.append(f)
    return kept, dropped
