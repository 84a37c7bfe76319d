"""FT502 refcnt-field-access: direct use of the ob_refcnt field (and read-modify-write of Py_SET_REFCNT)."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blanked
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.alloc_common import ft_dead
from extmigrate.rules.base import Rule
from extmigrate.rules.refcnt_common import (DATA, as_pyobject, field_errors, mentions, reads,
                                            symbol)
from extmigrate.tree import K, Node, TUView

_TOO_MANY = "too many errors emitted"
_TEXT_ACCESS = re.compile(r"(?:->|\.)\s*ob_refcnt\b")
_RMW = re.compile(r"^\s*Py_REFCNT\s*\((?P<obj>.*)\)\s*(?P<op>[-+])\s*(?P<n>\d+)\s*$", re.S)


@register
class ObRefcntAccess(Rule):
    code = "FT502"
    name = "refcnt-field-access"
    category = "other"
    severity = "error"
    summary = "direct ob_refcnt access, which does not exist on free-threaded builds"
    explanation = (
        "Free-threaded CPython splits the reference count into ob_ref_local (owner thread) and "
        "ob_ref_shared (atomic, other threads), so PyObject has no ob_refcnt field: the code does not "
        "compile there. Arithmetic on the count (o->ob_refcnt++ or Py_SET_REFCNT(o, Py_REFCNT(o) + 1)) "
        "is also a non-atomic read-modify-write that loses concurrent increments from other threads.")
    action = ("Read the count with Py_REFCNT(o), set it with Py_SET_REFCNT(o, n), and change it with "
              "Py_INCREF(o) / Py_DECREF(o).")
    doc = """
    Finds `o->ob_refcnt` / `o.ob_refcnt` in the AST of a normal parse, in clang's error-recovery
    nodes and diagnostics when parsed with free-threaded headers (`--gil-disabled` with CPython >=
    3.13 headers, where the field does not exist), and in the file's text when the parse gave up
    early. Code in `#ifndef Py_GIL_DISABLED` or pre-3.13 branches is not reported. Also reports
    `Py_SET_REFCNT(o, Py_REFCNT(o) + n)` / `- n`.

    Before:

        if (self->ob_refcnt > 1) { ... }
        other->ob_refcnt++;

    After:

        if (Py_REFCNT(self) > 1) { ... }
        Py_INCREF(other);
    """

    def check(self, tu: TUView) -> list[Finding]:
        seen: set[tuple[str, int]] = set()  # (path, line)
        out: list[Finding] = []

        def add(where, path: str, line: int, offset: int, obj: str, access: str, text: str,
                replacement: str, span: tuple[int, int] = (-1, -1)) -> None:
            if (path, line) in seen or ft_dead(tu, path, offset):
                return
            seen.add((path, line))
            func = tu.function_at(path, offset)
            rmw = text.startswith(("Py_SET_REFCNT", "_Py_SET_REFCNT"))
            written = rmw or "ob_refcnt" in text
            why = ("changes the count with a non-atomic read-modify-write that loses concurrent "
                   "updates on free-threaded Python" if rmw
                   else "accesses ob_refcnt directly: the field does not exist on free-threaded Python")
            if not written:  # a macro of the project's that uses the field
                obj, replacement = "", ""
                why = "expands to an ob_refcnt access: the field does not exist on free-threaded Python"
            out.append(self.finding(
                where, symbol(obj) or "ob_refcnt",
                f"'{text}' {why}" + (f"; use {replacement}" if replacement else ""),
                function=func.spelling if func else None,
                data={"access": access, "object": obj, "replacement": replacement,
                      "written": written, "expr_start": span[0], "expr_end": span[1]}))

        for node, obj, form in reads(tu):
            if form != "field":
                continue
            access, replacement, whole = self._access(tu, node, obj)
            add(node, node.path, node.extent()[3], node.start, obj, access, tu.node_text(node),
                replacement, (whole.start, whole.end))
        self._from_diagnostics(tu, add)
        self._set_refcnt(tu, add)
        return sorted(out, key=lambda f: (f.path, f.line, f.column))

    def _access(self, tu: TUView, node: Node, obj: str) -> tuple[str, str, Node]:
        """How the field is used (read, write, increment, decrement), what to write instead, and the
        expression that the replacement replaces."""
        parent, child = node.parent, node
        while parent is not None and parent.kind in (K.PAREN_EXPR, K.UNEXPOSED_EXPR) and \
                tu.node_text(parent).strip("() ") == tu.node_text(child).strip("() "):
            parent, child = parent.parent, parent
        access, value = "read", ""
        if parent is not None:
            ptext = tu.node_text(parent)
            kids = tu.children_of(parent)
            first = kids[0] is child if kids else False
            if parent.kind == K.UNARY_OPERATOR and ("++" in ptext or "--" in ptext):
                access = "increment" if "++" in ptext else "decrement"
            elif parent.kind == K.COMPOUND_ASSIGNMENT_OPERATOR and first:
                op = tu.text(parent.path, child.end, kids[1].start).strip() if len(kids) == 2 else ""
                access = {"+=": "increment", "-=": "decrement"}.get(op, "write")
            elif parent.kind == K.BINARY_OPERATOR and first and len(kids) == 2 and \
                    tu.text(parent.path, child.end, kids[1].start).strip() == "=":
                access, value = "write", tu.node_text(kids[1])
        template = DATA["access"][access]
        whole = parent if access != "read" and parent is not None else node
        return access, template.format(obj=as_pyobject(tu, node, "field", obj), value=value), whole

    def _from_diagnostics(self, tu: TUView, add) -> None:
        """Free-threaded headers: clang's 'no member named ob_refcnt' errors, and a text scan of the
        project's files when the parse stopped at the error limit."""
        if not mentions(tu, b"ob_refcnt"):
            return
        for d in field_errors(tu):
            loc = d.location
            path = loc.file.name
            ext = (path, loc.offset, loc.offset + len("ob_refcnt"), loc.line, loc.column, loc.line,
                   loc.column + len("ob_refcnt"))
            add(ext, path, loc.line, loc.offset, "", "read", tu.line_text(path, loc.line).strip(), "")
        gave_up = any(_TOO_MANY in d.spelling for d in tu.tu.diagnostics)
        if not gave_up:
            return
        for path in sorted(tu.files):
            text = blanked(tu, path)
            for m in _TEXT_ACCESS.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                col = m.start() - text.rfind("\n", 0, m.start())
                ext = (path, m.start(), m.end(), line, col, line, col + len(m.group(0)))
                add(ext, path, line, m.start(), "", "read", tu.line_text(path, line).strip(), "")

    def _set_refcnt(self, tu: TUView, add) -> None:
        """Py_SET_REFCNT(o, Py_REFCNT(o) +/- n): a racy read-modify-write of the count."""
        for u in tu.uses_of("Py_SET_REFCNT", "_Py_SET_REFCNT"):
            args = u.args
            m = _RMW.match(args[1]) if len(args) == 2 else None
            if not m or symbol(m.group("obj")) != symbol(args[0]):
                continue
            access = "increment" if m.group("op") == "+" else "decrement"
            repl = DATA["access"][access].format(obj=args[0]) if m.group("n") == "1" else ""
            add(u, u.path, u.line, u.start, args[0], access, tu.text(u.path, u.start, u.end), repl,
                (u.start, u.end))
