"""Cheap cursor facts for the rules' hot loops: raw libclang ids instead of cindex enum conversions.

cindex turns every kind, linkage, storage class and operator code into an enum member (a Python
call per use) and hashes a cursor with a libclang call; a rule that asks for each reference of a
TU pays that hundreds of times.  These helpers return the plain ints libclang gives, and read a TU's
inclusion list without building an object per header.
"""

from __future__ import annotations

import os
from ctypes import CFUNCTYPE, c_uint, c_void_p, cast, py_object
from functools import cache

from clang.cindex import (BinaryOperator, Cursor, File, LinkageKind, StorageClass, TranslationUnit,
                          c_object_p, conf)

ASSIGN = BinaryOperator.Assign.value
INTERNAL = LinkageKind.INTERNAL.value
EXTERNAL = LinkageKind.EXTERNAL.value
STATIC = StorageClass.STATIC.value


def decl_id(cur: Cursor) -> tuple[int, int | None]:
    """What clang_hashCursor hashes for a declaration (its kind and Decl pointer), read from the
    cursor struct: equal for every cursor of the same declaration, without a libclang call."""
    return cur._kind_id, cur.data[0]


def linkage(cur: Cursor) -> int:
    """The raw CXLinkageKind."""
    return conf.lib.clang_getCursorLinkage(cur)


def storage_class(cur: Cursor) -> int:
    """The raw CX_StorageClass."""
    return conf.lib.clang_Cursor_getStorageClass(cur)


def binary_op(cur: Cursor) -> int:
    """The raw CXBinaryOperatorKind of a BINARY_OPERATOR cursor, kept where cindex keeps it."""
    d = cur.__dict__
    op = d.get("_binopcode")
    if op is None:
        op = d["_binopcode"] = conf.lib.clang_getCursorBinaryOperatorKind(cur)
    return op


_INCLUSION = CFUNCTYPE(None, c_void_p, c_void_p, c_uint, py_object)


@cache
def _get_inclusions():
    fn = conf.lib["clang_getInclusions"]  # a private prototype: cindex's stays untouched
    fn.argtypes, fn.restype = [TranslationUnit, _INCLUSION, py_object], None
    return fn


def included_names(tu: TranslationUnit) -> tuple[str, ...]:
    """The names of the files the parse included (once per TU): libclang's inclusion list read for
    file names only (cindex's get_includes() builds locations and objects for every entry)."""
    names = tu.__dict__.get("_extmigrate_included")
    if names is None:
        found: list[str] = []

        def visit(cxfile, _stack, depth, _data) -> None:  # depth 0: the main file, not an include
            if depth and cxfile:
                found.append(File(cast(c_void_p(cxfile), c_object_p)).name)

        _get_inclusions()(tu, _INCLUSION(visit), None)
        names = tu.__dict__["_extmigrate_included"] = tuple(found)
    return names


def includes_named(tu: TranslationUnit, basename: str) -> bool:
    """Does the parse include a file of that name?"""
    return any(os.path.basename(name) == basename for name in included_names(tu))
