"""Atomic file writes: a temporary file beside the destination, flushed to disk, then os.replace."""
import contextlib
import os
import tempfile
from pathlib import Path


def temporary(path):
    """A new empty hidden file beside `path` (same folder, so that os.replace onto `path` is atomic)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return tmp


def sync(path):
    """Flush a written file to disk, so that a full disk or an I/O error shows up here, not later."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file beside `path` to write in a `with` block; os.replace'd onto `path` when the block ends.

    Nothing is left behind when the block raises (or a generator holding it is closed early), and
    `path` keeps its old content. The temporary file keeps `path`'s suffix.
    """
    tmp = temporary(path)
    try:
        yield tmp
        sync(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path, write):
    """Call write(tmp) on a temporary file beside `path`, flush it to disk, then os.replace it onto `path`.

    Args:
        path: the destination; its folder must exist.
        write: callable(tmp path as str) that writes the whole content.

    Returns:
        `path` as a pathlib.Path. Nothing is left behind when write fails, and `path` keeps its old content.
    """
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)
