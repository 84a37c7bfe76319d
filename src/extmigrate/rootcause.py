"""Root-cause findings: one finding at the cause standing for many places (the methods that call a
racing helper, the readers of what one writer changes). Each place stays addressable as a `site`
(JSON `sites`; suppressions and baselines match a site by its own line and key, suppress.py)."""

from __future__ import annotations

from typing import Callable

from extmigrate.model import Finding, GroupSite, Site

GROUP_MIN = 3  # places sharing one cause before they are reported once, at the cause
MORE = 5  # places listed in `related`; every one is in `sites`


def gather(cause: Finding, members: list[Finding], note: Callable[[Finding], str]) -> Finding:
    """The cause with every member as a site, and the first MORE also as related locations (the last
    saying how many more)."""
    members = sorted(members, key=lambda f: f.sort_key)
    cause.sites = [GroupSite(m.path, m.line, m.column, note(m), m.function, m.symbol) for m in members]
    cause.data["own_related"] = len(cause.related)
    cause.related = cause.related + [Site(s.path, s.line, s.column, s.note) for s in cause.sites[:MORE]]
    if len(cause.sites) > MORE:
        cause.related[-1].note += f" (and {len(cause.sites) - MORE} more)"
    return cause
