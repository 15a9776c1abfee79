"""Writing output files safely: atomic replacement with fsync, checksums, and one-line errors
for the output problems a user can fix (full disk, read-only or vanished directory...).

This module sits below everything that writes files (run directories, image grids, metrics,
exported generators) and imports nothing heavy.
"""

from __future__ import annotations

import errno
import json
import hashlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import GanforgeError

# Test-only: seconds to sleep between writing a temporary file and moving it into place, so a
# fault-injection test can kill the process in the middle of a write. Never set it otherwise.
WRITE_DELAY_ENV = "GANFORGE_TEST_WRITE_DELAY"
TEMP_SUFFIX = ".tmp"

# OSErrors that mean "this output location cannot be written" rather than a bug of ours.
_HINTS = {
    errno.ENOSPC: "the disk is full; free some space",
    errno.EDQUOT: "the disk quota is exceeded; free some space",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "the directory does not exist (was it removed?)",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory",
    errno.EEXIST: "a file is in the way of a directory",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
    errno.EFBIG: "the file is too large for the file system",
    errno.EINVAL: "invalid file name for this file system",
    errno.EIO: "input/output error",
}
OUTPUT_ERRNOS = frozenset(_HINTS)


def output_error(path: Path | str, exc: OSError) -> GanforgeError:
    """The one-line error for an OSError met while writing ``path``."""
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    return GanforgeError(f"cannot write {path}: {_HINTS.get(exc.errno, exc.strerror or exc)} ({name})")


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a user-fixable OSError raised inside the block into a GanforgeError naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in OUTPUT_ERRNOS:
            raise output_error(path, exc) from exc
        raise


def fsync_file(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path | str) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path | str, write: Callable[[Path], object], make_parents: bool = False) -> None:
    """Call ``write(tmp_path)`` for a temporary file next to ``path``, fsync it, move it into
    place with ``os.replace`` and fsync the directory: readers see the old file or the whole new
    one, never half of one, even after a crash.

    Only ``path``'s own directory is created when missing (all parents with ``make_parents``), so
    a run directory that vanished is reported rather than silently recreated.
    """
    path = Path(path)
    with writing(path):
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            path.parent.mkdir(exist_ok=True)  # its parent must exist: ENOENT otherwise
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            fsync_file(tmp)
            delay = os.environ.get(WRITE_DELAY_ENV)
            if delay:
                time.sleep(float(delay))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)


def atomic_write_text(path: Path | str, text: str, make_parents: bool = False) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), make_parents)


def remove_temp_files(directory: Path | str) -> int:
    """Delete temporary files an interrupted ``atomic_write`` left in ``directory``; returns how many."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    for p in directory.glob(f".*{TEMP_SUFFIX}"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: Path | str) -> Path:
    """The sidecar holding ``path``'s sha256: ``NAME.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def read_json_object(path: Path) -> Optional[dict]:
    """The JSON object in ``path``; None when the file is missing, unreadable or holds no object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
