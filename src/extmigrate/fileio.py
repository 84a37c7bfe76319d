"""The one writer: every file extmigrate writes goes through write_file(), with one policy.

- `-` is standard output.
- A path that exists and is not a regular file (device, FIFO, socket) is written in place, never
  replaced: `-o /dev/null`, `-o /dev/stdout`, `-o /dev/fd/3` and FIFOs work. So is a path reached
  through a /proc "magic" link (/dev/fd/N, /dev/stdout): the open file it names is written.
- A symlink is written through to its target; the target must lie inside `inside` when given.
- A regular file with several hard links is written in place so every name sees the new text.
- Any other regular file is replaced atomically (temp file, fsync, rename), keeping its mode and,
  where allowed (as root), its owner and group.
- `expect` (bytes, or None for "must not exist") refuses a file changed since it was read.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile

STDOUT = "-"
_ANY = object()


class WriteRefused(Exception):
    """The policy forbids this write; the message says why in one line."""


class StaleFile(WriteRefused):
    """The file on disk is not the content a change was computed from."""


def write_file(path: str, data: bytes, *, expect=_ANY, inside: list[str] | None = None,
               durable: bool = True) -> str:
    """Write data to path under the policy above; returns how: stdout, in place, replaced, created."""
    if path == STDOUT:
        sys.stdout.flush()
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:  # a text-only stream (an embedding program's)
            sys.stdout.write(data.decode("utf-8", "replace"))
        return "stdout"
    target, st, magic = _resolve(path)
    if inside is not None and not magic:
        why = _outside(path, target, inside)
        if why:
            raise WriteRefused(f"{path}: {why}; not changed")
    if st is not None and (magic or not stat.S_ISREG(st.st_mode)):
        if expect is not _ANY:  # a change computed from a file's text needs a regular file
            raise WriteRefused(f"{path}: not a regular file; not changed")
        _write_in_place(path, data, truncate=stat.S_ISREG(st.st_mode))
        return "in place"
    if st is not None and st.st_nlink > 1:
        _overwrite_if_unchanged(target, expect, data, durable)
        return "in place"
    if expect is not _ANY:
        _check_unchanged(target, expect)
    _replace(target, data, st, durable)
    return "created" if st is None else "replaced"


def refusal(path: str, inside: list[str] | None = None) -> str | None:
    """Why write_file would not change this existing or new file (read-only, outside, ...), or None."""
    try:
        target, st, magic = _resolve(path)
    except OSError as e:
        return f"cannot resolve: {e.strerror or e}"
    if inside is not None and not magic:
        why = _outside(path, target, inside)
        if why:
            return why
    if st is not None and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        return "read-only file; not changed"  # no write bit counts, even for root
    if st is None or (stat.S_ISREG(st.st_mode) and st.st_nlink == 1):
        folder = os.path.dirname(target)
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"folder {folder} is not writable; not changed"
    return None


def outside(path: str, inside: list[str]) -> str | None:
    """Why path (or the file its links lead to) lies outside the folders and files `inside`, or None."""
    return _outside(path, os.path.realpath(path), inside)


def _outside(path: str, target: str, inside: list[str]) -> str | None:
    for root in inside:
        real = os.path.realpath(root)
        if target == real or target.startswith(real.rstrip(os.sep) + os.sep):
            return None
    if os.path.normpath(os.path.abspath(path)) != target:
        return f"links to {target}, outside the project (pass {target} itself to change it)"
    return "outside the project"


def _resolve(path: str) -> tuple[str, os.stat_result | None, bool]:
    """(the real file to write, its stat or None when it does not exist yet, whether a magic link
    stands in the way: /dev/fd/N whose target has no name realpath can follow)."""
    target = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return target, None, False
    try:
        same = os.stat(target)
        magic = (same.st_dev, same.st_ino) != (st.st_dev, st.st_ino)
    except OSError:
        magic = True
    return target, st, magic


def _write_in_place(path: str, data: bytes, truncate: bool) -> None:
    flags = os.O_WRONLY | (os.O_TRUNC if truncate else 0)
    with open(os.open(path, flags), "wb") as f:
        f.write(data)


def _check_unchanged(path: str, expect: bytes | None) -> None:
    try:
        with open(path, "rb") as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    _compare(path, current, expect)


def _compare(path: str, current: bytes | None, expect: bytes | None) -> None:
    if (current is None) != (expect is None) or (
            current is not None and hashlib.sha256(current).digest() != hashlib.sha256(expect).digest()):
        raise StaleFile(f"{path}: changed on disk since the fix was computed; not written")


def _overwrite_if_unchanged(path: str, expect, data: bytes, durable: bool) -> None:
    """Hard links: rewrite the one inode every name shares (not atomic; checked just before)."""
    with open(path, "r+b") as f:
        if expect is not _ANY:
            _compare(path, f.read(), expect)
            f.seek(0)
        f.write(data)
        f.truncate()
        f.flush()
        if durable:
            os.fsync(f.fileno())


def _replace(path: str, data: bytes, st: os.stat_result | None, durable: bool) -> None:
    """Temp file in the same folder, fsync, owner and mode of the old file, rename over it."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".extmigrate-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
            if st is not None:
                _keep_owner(f.fileno(), st)
            os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(folder)


def _keep_owner(fd: int, st: os.stat_result) -> None:
    mine = os.fstat(fd)
    if not hasattr(os, "fchown") or (mine.st_uid, mine.st_gid) == (st.st_uid, st.st_gid):
        return
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        try:  # not root: the group alone may still be ours to keep
            os.fchown(fd, -1, st.st_gid)
        except PermissionError:
            pass


def touch(path: str) -> None:
    """Set a file's mtime to now (the caches mark what a scan used); a missing file is no error."""
    try:
        os.utime(path)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
