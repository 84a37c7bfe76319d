"""Remedies for findings made by a project-wide step (finish()): their TU is parsed again here, in
worker processes when there are several files (like the scan itself)."""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

from extmigrate.engine import project_filter
from extmigrate.fix.base import has_remedy, propose_fixes
from extmigrate.flags import TUSpec
from extmigrate.model import Finding
from extmigrate.parse import parse
from extmigrate.scan import ScanOptions, ScanResult, extra_args


def _remedy_file(spec: TUSpec, extra: list[str], roots: list[str],
                 findings: list[Finding]) -> list[Finding]:
    """Parse one file again and run the remedies of its findings (returns them, filled)."""
    try:
        tu = parse(spec, extra)
    except Exception as e:  # libclang gives no detail
        for f in findings:
            f.data["fix_reason"] = f"the file could not be parsed again ({type(e).__name__})"
        return findings
    from extmigrate.tree import TUView

    propose_fixes(TUView(tu, spec.path, project_filter(roots + [spec.path])), findings)
    return findings


def _host_spec(result: ScanResult, includers: dict[str, str], path: str) -> TUSpec | None:
    """The TU that compiles path: its own, or, for a unity build's fragment, its includer's."""
    seen: set[str] = set()
    while path not in result.specs and path in includers and path not in seen:
        seen.add(path)
        path = includers[path]
    return result.specs.get(path)


def propose_late(result: ScanResult, opts: ScanOptions) -> None:
    """Fill the fixes of findings that have a remedy but were made without a live TU."""
    pending: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.fix is None and "fix_reason" not in f.data and has_remedy(f.code):
            if f.config:  # the scan's own flags do not compile this code: parsing again cannot help
                f.data["fix_reason"] = f"compiled only with {' '.join(f.config)}: fix it by hand"
                continue
            pending.setdefault(os.path.realpath(f.path), []).append(f)
    roots = [os.path.abspath(p) for p in opts.paths]
    extra = extra_args(opts)
    by_host: dict[str, tuple[TUSpec, list[Finding]]] = {}
    includers = {os.path.realpath(k): os.path.realpath(v) for k, v in result.included.items()}
    for path, findings in sorted(pending.items()):
        spec = _host_spec(result, includers, path)
        if spec is None:
            for f in findings:
                f.data["fix_reason"] = "declared in a header: fix it by hand where it is defined"
        else:
            by_host.setdefault(spec.path, (spec, []))[1].extend(findings)
    tasks = list(by_host.values())
    jobs = min(len(tasks), opts.jobs or os.cpu_count() or 1)
    if jobs <= 1:
        for spec, findings in tasks:
            _remedy_file(spec, extra, roots, findings)
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_remedy_file, spec, extra, roots, findings) for spec, findings in tasks]
        for (spec, findings), fut in zip(tasks, futures):
            try:
                done = fut.result()
            except Exception as e:  # a crashed worker: say so for this file, go on
                for f in findings:
                    f.data["fix_reason"] = f"the remedies crashed on this file ({type(e).__name__})"
                continue
            for mine, theirs in zip(findings, done):  # results come back as copies
                mine.fix, mine.data = theirs.fix, theirs.data
