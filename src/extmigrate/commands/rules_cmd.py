"""`extmigrate rules` and `extmigrate explain CODE`."""

from __future__ import annotations

import sys
import textwrap

from extmigrate.rules import all_rules, get_rule


def add_parser(sub) -> None:
    p = sub.add_parser("rules", help="list the rules")
    p.add_argument("--category", help="only this category")
    p.set_defaults(run=run_rules)
    e = sub.add_parser("explain", help="show a rule's documentation with a before/after example")
    e.add_argument("rule", help="rule code (FT101) or name")
    e.set_defaults(run=run_explain)


def run_rules(args) -> int:
    rules = [r for r in all_rules() if not args.category or r.category == args.category]
    width = max((len(r.name) for r in rules), default=10)
    for r in rules:
        fix = "fix" if r.fixable else "   "
        print(f"{r.code}  {r.name:<{width}}  {r.category:<12}  {fix}  {r.summary}")
    return 0


def run_explain(args) -> int:
    rule = get_rule(args.rule)
    if rule is None:
        print(f"extmigrate: unknown rule {args.rule!r}; see `extmigrate rules`", file=sys.stderr)
        return 2
    print(f"{rule.code} {rule.name} ({rule.category}, {rule.severity})\n")
    print(rule.summary + "\n")
    print("Why: " + textwrap.fill(rule.explanation, 100, subsequent_indent="     ") + "\n")
    print("Fix: " + textwrap.fill(rule.action, 100, subsequent_indent="     ") + "\n")
    if rule.doc:
        print(textwrap.dedent(rule.doc).strip())
    return 0
