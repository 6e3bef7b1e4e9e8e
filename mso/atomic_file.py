"""Replacing a file so that a crash at any instant leaves the old content or the new, never a
torn file: write a temporary beside it, fsync, rename over, fsync the directory (the rename
itself is only durable once the directory is). A write that fails (``OSError``: the disk is
full) leaves the old file as it was and no temporary behind."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, content: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:  # a full disk, most likely: the old file stays, the torn temporary goes
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
