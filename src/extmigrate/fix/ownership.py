"""Ownership of a reference a fix turns from borrowed into strong: drop the INCREF that made it strong
before, or release it on every way out of the function."""

from __future__ import annotations

import re
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, NoFix, macro
from extmigrate.fix.scope import LABEL as _LABEL, SWITCH_LABEL as _SWITCH_LABEL, Scope, decl_pattern, nested
from extmigrate.tree import K, TUView, split_args

STEALS: dict[str, int] = tomllib.loads(
    resources.files("extmigrate").joinpath("data/steals.toml").read_text("utf-8"))["steals"]
TEMPLATE = "ownership"
_RETURN = re.compile(r"\breturn\b|\bPy_RETURN_\w+\b")


def _stmt_end(text: str, i: int) -> int:
    """Offset just past the `;` ending the statement that starts at i (parentheses balanced)."""
    depth = 0
    while i < len(text):
        ch = text[i]
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            return i + 1
        i += 1
    return -1


def delete_statement(ctx: FixContext, path: str, start: int, end: int) -> Edit:
    """Remove a statement; its whole line when it is alone there."""
    ls, le = ctx.line_start(path, start), ctx.line_end(path, end)
    src = ctx.source(path)
    if not src[ls:start].strip() and not src[end:le].strip():
        return Edit(path, ls, le, "")
    return Edit(path, start, end, "")


def null_tests(text: str, var: str) -> list[tuple[int, int]]:
    """(start, end) of every `if (var == NULL) ...` / `if (!var) ...` statement in text."""
    v = re.escape(var)
    out = []
    for m in re.finditer(rf"\bif\s*\(\s*(?:!\s*{v}|{v}\s*==\s*NULL|NULL\s*==\s*{v})\s*\)\s*", text):
        i = m.end()
        if text.startswith("{", i):
            depth, j = 0, i
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append((m.start(), j + 1))
        else:
            e = _stmt_end(text, i)
            if e > 0:
                out.append((m.start(), e))
    return out


def drop_incref(tu: TUView, ctx: FixContext, path: str, var: str,
                call_span: tuple[int, int]) -> list[Edit] | NoFix:
    """`x = f(); if (x == NULL) ...; Py_INCREF(x);` -> the Py_INCREF goes: the new call returns a
    strong reference already."""
    after = call_span[1]
    func = tu.function_at(path, after)
    if func is None:
        return NoFix("not inside a function")
    text = blank_comments(ctx.text(path, after, func.end))
    call = re.compile(rf"\bPy_X?INCREF\s*\(\s*{re.escape(var)}\s*\)\s*;").search(text)
    if call is None:
        return NoFix(f"no Py_INCREF({var}) statement follows: release the new reference by hand")
    between = text[:call.start()]
    for s, e in reversed(null_tests(between, var)):
        between = between[:s] + between[e:]
    if re.search(rf"\b{re.escape(var)}\b", between):
        return NoFix(f"'{var}' is used before Py_INCREF({var}): release the new reference by hand")
    depth = 0
    for ch in between:  # the INCREF must run whenever the call did: same block, not in a branch
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        return NoFix(f"Py_INCREF({var}) is in another block than the call: release the new reference "
                     "by hand")
    if re.search(r"\bgoto\b", between):
        return NoFix(f"a goto between the call and Py_INCREF({var}) would leak the new reference")
    edits = [delete_statement(ctx, path, after + call.start(), after + call.end())]
    if _RETURN.search(between):  # early exits before the INCREF now release the reference
        more = release_on_exit(tu, ctx, path, var, call_span, None, until=after + call.start())
        if isinstance(more, NoFix):
            return NoFix(f"a way out before Py_INCREF({var}) needs a release: {more.reason}")
        edits += more
    return edits


def release_on_exit(tu: TUView, ctx: FixContext, path: str, var: str, call: tuple[int, int],
                    loop, until: int | None = None) -> list[Edit] | NoFix:
    """Py_XDECREF(var) before every return after the call (and at the end of a void function).

    Only for a `PyObject *var` of the function body, assigned once by a statement of the body
    itself (so that it runs before everything after it), with no label before it; a goto before it
    jumps to a release of a variable that starts NULL.  With
    `until`, only the returns before that offset (the reference is handed over there)."""
    func = tu.function_at(path, call[0])
    if func is None:
        return NoFix("not inside a function")
    loop_node = _loop_body(tu, path, loop) if loop else None
    if loop and loop_node is None:
        return NoFix(f"'{var}' is taken in a loop without a braced body: release it by hand")
    scope = loop_node[1] if loop_node else func  # a loop: released at the end of each pass
    picked = Scope(scope, "loop" if loop_node else "function", None)
    name = re.escape(var)
    body, head, s0 = _split(ctx, path, scope, call)
    if head.count("{") - head.count("}") != 1:  # taken in a nested block
        picked = nested(tu, ctx, path, func, scope, picked.kind, var, call)
        if isinstance(picked, NoFix):
            return picked
        scope = picked.node
        body, head, s0 = _split(ctx, path, scope, call)
    fstart = scope.start
    c0, c1 = call[0] - fstart, call[1] - fstart
    open_at = body.find("{")
    rest = body[c1:(until - fstart) if until is not None else len(body)]
    in_decl = re.search(rf"\bPyObject\s*\*\s*{name}\s*=\s*$", body[s0:c0])
    null_at = picked.decl  # where " = NULL" goes: the variable is NULL until the call
    if not in_decl:
        if not re.fullmatch(rf"\s*{name}\s*=\s*", body[s0:c0]):
            return NoFix(f"the result is not simply assigned to '{var}': release it by hand")
        if picked.node is scope and picked.kind != "block" and not picked.clear and null_at is None:
            decl = decl_pattern(var).search(body, open_at, s0)  # of the function body or the loop's
            if decl is None:
                where = "the loop's body" if loop_node else "the function body"
                return NoFix(f"'{var}' is not a PyObject * declared in {where}: release the reference "
                             "by hand")
            null_at = None if decl.group(1) else fstart + decl.end()
    if re.search(rf"(?<![\w>.]){name}\s*=(?!=)|&\s*{name}\b", rest):
        return NoFix(f"'{var}' is assigned again later: release the reference by hand")
    if _LABEL.search(_SWITCH_LABEL.sub("", head[open_at + 1:])) or "longjmp" in body:
        return NoFix("a label before the call can repeat it: release the reference by hand")
    if re.search(r"\bgoto\b", head) and in_decl:  # a jump past `PyObject *x = CALL;` leaves x unset
        return NoFix(f"a goto before the call can skip the declaration of '{var}': declare it "
                     "NULL at the top of the function, or release the reference by hand")
    for fn, idx in STEALS.items():
        for m in re.finditer(rf"\b{re.escape(fn)}\s*\(", rest):
            args = _args(rest, m.end() - 1)
            if len(args) > idx and re.fullmatch(rf"\(?\s*(\(PyObject\s*\*\)\s*)?{name}\s*\)?", args[idx]):
                return NoFix(f"'{var}' is handed to {fn}(), which steals it: adjust the references "
                             "by hand")
    if re.search(rf"\breturn\s+\(?\s*{name}\s*\)?\s*;", rest):
        return NoFix(f"'{var}' is returned: the caller would receive the new reference")
    released = existing_release(body, c1, rest, var, ctx.source(path)[:fstart].count(b"\n") + 1)
    if isinstance(released, NoFix):
        return released
    rtype = func.cursor.result_type.spelling
    edits: list[Edit] = []
    if null_at is not None:  # `PyObject *x;`: NULL until the call
        edits.append(Edit(path, null_at, null_at, " = NULL"))
    null_only = null_tests(rest, var)  # returns where var is NULL release nothing
    how = "Py_CLEAR" if picked.clear else "Py_XDECREF"  # Py_CLEAR: NULL again for the next pass
    for m in (_LOOP_EXIT if picked.kind != "function" else _RETURN).finditer(rest):
        if any(a <= m.start() < b for a, b in null_only) or (released is not None and m.start() > released):
            continue  # NULL there, or the function's own release already ran on this path
        s = c1 + m.start()
        if picked.kind != "function" and not _leaves(tu, path, scope, fstart + s, m.group(0)):
            continue  # a break of an inner loop or switch, a goto to a label inside the block
        e = exit_end(body, s, m.group(0))
        if e < 0:
            return NoFix("a return statement could not be delimited")
        stmt = ctx.text(path, fstart + s, fstart + e)
        expr = re.fullmatch(r"return\s*(.*?)\s*;", stmt, re.S)
        if expr is not None and expr.group(1) and \
                not re.fullmatch(r"\(?\s*([A-Za-z_]\w*|-?\d+|NULL)\s*\)?", expr.group(1)):
            if rtype == "void":
                return NoFix("a void function returns a value")
            text = macro(TEMPLATE, "release_and_return_value", var=var, type=rtype, expr=expr.group(1),
                         how=how)
        else:
            text = macro(TEMPLATE, "release_and_return", var=var, stmt=stmt, how=how)
        edits.append(Edit(path, fstart + s, fstart + e, text, macro(TEMPLATE, "release", var=var, how=how)))
    tail = body.rstrip()
    if until is None and released is None and (rtype == "void" or picked.kind != "function") and \
            tail.endswith("}") and \
            not re.search(r"(\b(return|continue|break|goto)\b[^;]*;|Py_RETURN_\w+\s*;?)\s*}$", tail):
        brace = fstart + len(tail) - 1
        if ctx.only_space_before(path, brace):
            nested_call = head.count("{") - head.count("}") != 1  # its indent is deeper
            indent = ctx.indent(path, brace) + "    " if nested_call else ctx.indent(path, call[0])
            at, text = ctx.line_start(path, brace), indent + "{}\n"
        else:
            at, text = brace, "{} "
        edits.append(Edit(path, at, at, text.format(macro(TEMPLATE, "release", var=var, how=how))))
    return edits


_LOOP_EXIT = re.compile(r"\breturn\b|\bPy_RETURN_\w+\b|\bbreak\b|\bcontinue\b|\bgoto\b")
_LOOPS = (K.FOR_STMT, K.WHILE_STMT, K.DO_STMT)


def _loop_body(tu: TUView, path: str, loop) -> tuple | None:
    """(loop node, its braced body) for the loop span [start, end]."""
    for kind in _LOOPS:
        for n in tu.of_kind(kind):
            if n.path == path and n.start == loop[0]:
                kids = [k for k in tu.children_of(n) if k.kind == K.COMPOUND_STMT]
                body = kids[-1] if kids and kind != K.DO_STMT else (kids[0] if kids else None)
                return (n, body) if body is not None else None
    return None


def _leaves(tu: TUView, path: str, block, at: int, word: str) -> bool:
    """Does the jump at offset `at` leave `block` (a loop's body: this pass)?  A break or continue
    of a loop (or a break of a switch) inside the block does not, nor a goto to a label in it."""
    if word == "goto":
        src = tu.source(path)
        label = re.match(r"goto\s+(\w+)", src[at:at + 200].decode("utf-8", "replace"))
        text = src[block.start:block.end].decode("utf-8", "replace")
        return not (label and re.search(rf"^\s*{label.group(1)}\s*:", text, re.M))
    if word not in ("break", "continue"):
        return True
    kinds = _LOOPS + ((K.SWITCH_STMT,) if word == "break" else ())
    inner = [n for kind in kinds for n in tu.of_kind(kind) if n.path == path and n.start <= at < n.end]
    owner = max(inner, key=lambda n: n.start, default=None)
    return owner is not None and owner.start < block.start


def _split(ctx: FixContext, path: str, scope, call: tuple[int, int]) -> tuple[str, str, int]:
    """The scope's comment-free text, the part before the call's statement, and its offset there."""
    body = blank_comments(ctx.text(path, scope.start, scope.end))
    c0 = call[0] - scope.start
    s0 = max(body.rfind(";", 0, c0), body.rfind("{", 0, c0), body.rfind("}", 0, c0)) + 1
    return body, body[:s0], s0


def existing_release(body: str, at: int, rest: str, var: str, line0: int) -> int | None | NoFix:
    """Where in `rest` (the function body after the call, from offset `at` of `body`) the code
    already releases `var` on every path (`Py_DECREF(var);` in the call's own block, not under an
    if/else): returns after it need no release of their own.  None when it never does; NoFix when
    some paths release it and others do not, or it takes a reference of its own.  `line0` is the
    body's first line, for messages."""
    name = re.escape(var)
    if re.search(rf"\bPy_X?INCREF\s*\(\s*{name}\s*\)", rest):
        return NoFix(f"'{var}' gets a Py_INCREF on some paths after the call: with a new reference "
                     "it would be counted twice; adjust the references by hand")
    if re.search(rf"\bPy_X?SETREF\s*\(\s*{name}\s*,", rest):
        return NoFix(f"'{var}' is replaced with Py_SETREF later: release the reference by hand")
    first = None
    for m in re.finditer(rf"\bPy_(?:X?DECREF|CLEAR)\s*\(\s*{name}\s*\)\s*;", rest):
        before = body[:at + m.start()]
        depth = before.count("{") - before.count("}")
        prev = before.rstrip()
        if depth != 1 or not prev.endswith((";", "{", "}", ":")):
            line = line0 + body[:at + m.start()].count("\n")
            return NoFix(f"'{var}' is already released on some paths only (line {line}): adjust the "
                         "references by hand")
        first = m.start() if first is None else first
    if first is not None:  # a goto from between the call and the release past the release leaks
        later = {m.group(0).split(":")[0].strip() for m in _LABEL.finditer(_SWITCH_LABEL.sub("", rest[first:]))}
        if any(g in later for g in re.findall(r"\bgoto\s+(\w+)", rest[:first])):
            return NoFix(f"a goto jumps past the release of '{var}' while it is held: adjust the "
                         "references by hand")
    return first


def exit_end(text: str, s: int, word: str) -> int:
    """End of the `return ...;` / `goto x;` / `Py_RETURN_NONE;` statement starting at s (-1: none)."""
    return _stmt_end(text, s) if word in ("return", "goto") else _macro_end(text, s + len(word))


def _macro_end(text: str, i: int) -> int:
    m = re.compile(r"\s*(\([^;]*?\))?\s*;?").match(text, i)
    return m.end()


def _args(text: str, open_at: int) -> list[str]:
    depth = 0
    for j in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return split_args(text[open_at:j + 1])
    return []
