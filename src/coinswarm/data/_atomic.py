"""Atomic file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_writer"]


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary stream whose bytes replace `path` only if the block finishes.

    The bytes go to a temporary file in the same folder (so the final rename stays on one
    file system and is atomic), are flushed to disk, then renamed over `path`. On any error the
    temporary file is removed and `path` is left as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise _naming(path, error) from None
    temp = Path(temp_name)
    try:
        # mkstemp makes the file private (0600); give the result the permissions a plain
        # open() would, or keep those of the file being replaced.
        temp.chmod(path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        temp.replace(path)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename == temp_name:
            raise _naming(path, error) from None
        raise


def _naming(path: Path, error: OSError) -> OSError:
    """Return `error` about `path`, the file asked for, not the temporary file beside it."""
    return OSError(error.errno, error.strerror, str(path))
