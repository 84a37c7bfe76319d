"""Safe file writes: a file is either entirely old or entirely new."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile


class StaleFile(Exception):
    """The file on disk is not the content a change was computed from."""


def atomic_write(path: str, data: bytes, durable: bool = True) -> None:
    """Write to a temp file in the same folder, fsync, keep the mode, then rename over the target.

    durable=False skips the fsyncs (cache entries: a lost one only costs a re-analysis)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".extmigrate-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(folder)


def touch(path: str) -> None:
    """Set a file's mtime to now (the caches mark what a scan used); a missing file is no error."""
    try:
        os.utime(path)
    except OSError:
        pass


def replace_if_unchanged(path: str, expected: bytes | None, data: bytes) -> None:
    """atomic_write, but only while the file still holds `expected` (None: must not exist yet)."""
    try:
        with open(path, "rb") as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    if (current is None) != (expected is None) or (
            current is not None and hashlib.sha256(current).digest() != hashlib.sha256(expected).digest()):
        raise StaleFile(f"{path}: changed on disk since the fix was computed; not written")
    atomic_write(path, data)


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
