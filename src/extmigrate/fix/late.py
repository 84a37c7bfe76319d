"""Remedies for findings made by a project-wide step (finish()): their TU is parsed again here."""

from __future__ import annotations

import os

from extmigrate.engine import project_filter
from extmigrate.fix.base import has_remedy, propose_fixes
from extmigrate.parse import parse
from extmigrate.scan import ScanOptions, ScanResult, extra_args
from extmigrate.tree import TUView


def propose_late(result: ScanResult, opts: ScanOptions) -> None:
    """Fill the fixes of findings that have a remedy but were made without a live TU."""
    pending: dict[str, list] = {}
    for f in result.findings:
        if f.fix is None and "fix_reason" not in f.data and has_remedy(f.code):
            pending.setdefault(os.path.realpath(f.path), []).append(f)
    roots = [os.path.abspath(p) for p in opts.paths]
    for path, findings in sorted(pending.items()):
        spec = result.specs.get(path)
        if spec is None:
            for f in findings:
                f.data["fix_reason"] = "declared in a header: fix it by hand where it is defined"
            continue
        try:
            tu = parse(spec, extra_args(opts))
        except Exception as e:  # libclang gives no detail
            for f in findings:
                f.data["fix_reason"] = f"the file could not be parsed again ({type(e).__name__})"
            continue
        propose_fixes(TUView(tu, spec.path, project_filter(roots + [spec.path])), findings)
