"""Files that are never half-written and never silently wrong: atomic writes, safetensors with a
CRC-32 of their arrays, JSON records, exclusive flocks that die with their holder, and names that
are safe as path components. Formats only; where the files live is `workbench.store`'s business."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from workbench.errors import BadInputError, BusyError, DataError, MissingError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=,+-]*")
MAX_NAME = 200


def check_name(kind: str, name: str) -> str:
    """A name that is safe as one path component: no `/`, `..`, NUL, leading dot or `-`."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not NAME_RE.fullmatch(name) or ".." in name:
        shown = name[:60] + "..." if isinstance(name, str) and len(name) > 60 else name
        raise BadInputError(f"invalid {kind} name {shown!r}: use up to {MAX_NAME} letters, digits and _ . = , + - "
                            "(starting with a letter or digit)")
    return name


def inside(root: Path, path: Path) -> Path:
    """`path`, refused unless it resolves inside `root` (a symlink may not lead out of it)."""
    if _no_links_below(root, path):  # the common case, in a few lstat calls: resolving costs ~10x more
        return path
    resolved, base = path.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise BadInputError(f"{path} leads outside the data root {root} (a symlink?); remove it")
    return path


def _no_links_below(root: Path, path: Path) -> bool:
    """Whether `path` is `root` joined with plain names none of which is (yet) a symbolic link:
    then it resolves inside `root`, wherever `root` itself resolves to."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    here = root
    for part in parts:
        if part in ("..", ".", ""):
            return False
        here = here / part
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except FileNotFoundError:
            return True  # nothing further exists, so nothing further can lead out
        except OSError:
            return False
    return True


def atomic_write(path: Path, write: Callable[[object], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it into place. A full
    disk or a missing permission is a DataError; the file's previous contents stay as they were."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and err.errno in DISK_ERRORS:
            raise DataError(f"cannot write {path}: {DISK_ERRORS[err.errno]}; "
                            "earlier data is unchanged") from err
        raise


DISK_ERRORS = {
    errno.ENOSPC: "the disk is full - free some space (or set WORKBENCH_DATA to a roomier disk) and run it again",
    errno.EDQUOT: "the disk quota is exceeded - free some space and run it again",
    errno.EACCES: "permission denied - make the data root writable by this user, or set WORKBENCH_DATA",
    errno.EPERM: "operation not permitted - make the data root writable by this user, or set WORKBENCH_DATA",
    errno.EROFS: "the file system is read-only - set WORKBENCH_DATA to a writable directory",
}


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    crc = 0
    for key in sorted(arrays):
        crc = zlib.crc32(key.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(arrays[key]).tobytes(), crc)
    return f"{crc:08x}"


def write_arrays(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write named arrays as safetensors, atomically, with a checksum in the header."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    arrays = {k: v if v.flags.c_contiguous else v.copy(order="C") for k, v in arrays.items()}
    meta = {**(metadata or {}), "crc32": _checksum(arrays)}
    blob = st_save(arrays, metadata=meta)
    atomic_write(path, lambda f: f.write(blob))


def read_arrays(path: Path, fix: str | Callable[[], str] = "delete it and recreate it"
                ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a file written by `write_arrays`; a truncated or damaged file, or one without its
    checksum (which every file `write_arrays` writes has), raises DataError saying `fix` (a
    string, or a function making it: how to recreate the file)."""
    if not path.is_file():
        raise MissingError(f"{path} does not exist")
    blob = path.read_bytes()
    try:
        arrays = st_load(blob)
        header_len = int.from_bytes(blob[:8], "little")
        meta = json.loads(blob[8 : 8 + header_len]).get("__metadata__", {}) or {}
        problem = None if isinstance(meta.get("crc32"), str) else NO_CHECKSUM
    except Exception as err:  # safetensors raises its own error types for every kind of damage
        problem = f"is corrupt or truncated ({err})"
    if problem is None and meta["crc32"] != _checksum(arrays):
        problem = "is corrupt (checksum mismatch)"
    if problem is not None:
        raise DataError(f"{path} {problem}; {fix() if callable(fix) else fix}")
    return arrays, meta


NO_CHECKSUM = "has no checksum (the workbench writes one into every file: this one was altered or put there by hand)"


def checksum_of(path: Path, fix: str | Callable[[], str] = "delete it and recreate it") -> str:
    """The CRC-32 recorded in the header of a file `write_arrays` wrote, read without its arrays."""
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if not 2 <= length <= 100 << 20:
                raise ValueError(f"header length {length}")
            crc = (json.loads(f.read(length)).get("__metadata__") or {}).get("crc32")
    except (OSError, ValueError, AttributeError) as err:
        raise DataError(f"{path} is corrupt or truncated (header: {err}); {fix() if callable(fix) else fix}") from None
    if not isinstance(crc, str):
        raise DataError(f"{path} {NO_CHECKSUM}; {fix() if callable(fix) else fix}")
    return crc


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); restore or delete it") from err


@contextlib.contextmanager
def hold(path: Path, holder: str, busy: str, wait: bool = False) -> Iterator[None]:
    """An exclusive flock on `path`, released when the holder exits or dies; `busy` (with
    {holder}) is the BusyError message when another process holds it and `wait` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            raise BusyError(busy.format(holder=f.read().strip() or "another process")) from None
        f.seek(0)
        f.truncate()
        f.write(holder)
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def is_held(path: Path) -> bool:
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
