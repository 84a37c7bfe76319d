"""Safe file writes: a file is either entirely old or entirely new."""

from __future__ import annotations

import os
import stat
import tempfile


def atomic_write(path: str, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, keep the mode, then rename over the target."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".extmigrate-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
