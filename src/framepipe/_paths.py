"""Checks on the paths a command writes, made before anything is opened for writing.

A path a command writes must not be its input (the input would be truncated or replaced), nor
another output of the same command; it must be a name OpenCV can take (valid UTF-8: OpenCV
crashes on anything else) and the system accepts (not too long); and it must be writable: its
directory exists and grants write permission, and it is not itself a directory. Two paths are
the same file when they have the same device and inode (hard links, symlinks, bind mounts), or,
when one does not exist yet, the same resolved path.

Every failure is a :class:`PathError` whose text is one line for the user.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

__all__ = [
    "OutputPath",
    "PathError",
    "check_name",
    "check_outputs",
    "check_utf8",
    "free_bytes",
    "same_file",
]


class PathError(ValueError):
    """A path that cannot be used; ``str(error)`` is a one-line user-facing message."""


@dataclass(frozen=True)
class OutputPath:
    """A path a command will write: the flag that named it, the path, and what it is.

    ``kind`` is ``"file"`` for a file written whole, ``"video"`` for a video container (a
    regular file only: muxers seek back to finish the file) and ``"dir"`` for a directory the
    command creates files in.
    """

    flag: str
    path: str
    kind: Literal["file", "video", "dir"] = "file"


def check_outputs(outputs: Sequence[OutputPath], source: str | None = None) -> None:
    """Raise PathError unless every output is usable, none is ``source`` and no two coincide.

    ``source`` is the input file, or None when the input is not a file (camera, URL, scene).
    """
    for output in outputs:
        check_name(output.path, output.flag)
    if source is not None:
        for output in outputs:
            if same_file(output.path, source):
                raise PathError(
                    f"{output.flag} {output.path} is the source file {source}: "
                    "writing it would destroy the input"
                )
    for first, second in combinations(outputs, 2):
        if same_file(first.path, second.path):
            raise PathError(f"{first.flag} and {second.flag} are the same file: {second.path}")
    for output in outputs:
        if output.kind == "dir":
            _check_dir(output)
        else:
            _check_file(output)


def check_name(path: str, what: str) -> None:
    """Raise PathError when ``path`` is not valid UTF-8 or the system refuses it (too long)."""
    check_utf8(path, what)
    _stat(path, what)


def check_utf8(text: str, what: str) -> None:
    """Raise PathError unless ``text`` is valid UTF-8: OpenCV crashes on a name that is not
    (a file name in another encoding arrives in Python with lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PathError(f"{what} must be a valid UTF-8 file name, but got {_shown(text)}") from None


def same_file(first: str, second: str) -> bool:
    """True when the two paths name one file (through links too), existing or not."""
    try:
        a, b = os.stat(first), os.stat(second)
    except (OSError, ValueError):
        return os.path.realpath(first) == os.path.realpath(second)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def free_bytes(directory: str | os.PathLike[str]) -> int:
    """Bytes this process may still write on the file system holding ``directory``."""
    if not hasattr(os, "statvfs"):
        return shutil.disk_usage(directory).free
    info = os.statvfs(directory)
    # root may use the blocks reserved for it; everyone else only the available ones
    is_root = getattr(os, "geteuid", lambda: -1)() == 0
    return (info.f_bfree if is_root else info.f_bavail) * info.f_frsize


def _check_file(output: OutputPath) -> None:
    flag, path = output.flag, output.path
    info = _stat(path, flag)
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise PathError(f"{flag} must be a file, but {path} is a directory")
        if output.kind == "video" and not stat.S_ISREG(info.st_mode):
            raise PathError(f"{flag} must be a regular file, but {path} is {_kind(info)}")
        if not os.access(path, os.W_OK):
            raise PathError(f"permission denied: {flag} {path} is not writable{_read_only(path)}")
        if stat.S_ISCHR(info.st_mode):
            _probe_device(path, flag)
        elif stat.S_ISREG(info.st_mode):
            _probe(path, flag, os.O_WRONLY | os.O_APPEND)  # opened, not truncated
        return
    parent = os.path.dirname(path) or "."
    parent_info = _stat(parent, flag)
    if parent_info is None or not stat.S_ISDIR(parent_info.st_mode):
        raise PathError(f"{flag} directory must exist, but {parent} does not")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PathError(
            f"permission denied: {flag} {path}: directory {parent} is not writable"
            f"{_read_only(parent)}"
        )
    # os.access answers from the mode bits, and root passes those; /sys or /proc refuse anyway.
    if _probe(path, flag, os.O_WRONLY | os.O_CREAT | os.O_EXCL):
        os.unlink(path)


def _probe(path: str, flag: str, flags: int) -> bool:
    """Open ``path`` with ``flags`` and close it; True when this call created it."""
    try:
        fd = os.open(path, flags | os.O_NOCTTY, 0o644)
    except FileExistsError:
        return False  # created meanwhile by someone else: theirs, left alone
    except OSError as exc:
        denied = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        prefix = "permission denied: " if denied else ""
        raise PathError(f"{prefix}cannot write {flag} {path}: {exc.strerror}") from None
    os.close(fd)
    return bool(flags & os.O_CREAT)


def _check_dir(output: OutputPath) -> None:
    """A directory that exists must be writable; one that does not, its nearest ancestor."""
    flag, path = output.flag, output.path
    existing = path
    info = _stat(existing, flag)
    while info is None:
        parent = os.path.dirname(existing.rstrip(os.sep)) or "."
        if parent == existing:
            break
        existing = parent
        info = _stat(existing, flag)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise PathError(f"{flag} must be a directory, but {existing} is not one")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PathError(
            f"permission denied: {flag} {path}: directory {existing} is not writable"
            f"{_read_only(existing)}"
        )


def _stat(path: str, what: str) -> os.stat_result | None:
    """``os.stat(path)``, None when nothing is there; PathError when the system refuses the name."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:  # an embedded NUL
        raise PathError(f"{what} must be a file name, but got {_shown(path)}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise PathError(
                f"{what} name is too long for the file system ({len(path)} characters): "
                f"{_shown(path)}"
            ) from None
        raise PathError(f"{what} {_shown(path)}: {exc.strerror}") from None


def _probe_device(path: str, flag: str) -> None:
    """Write nothing to a character device: /dev/full refuses even that, /dev/null accepts."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            os.write(fd, b"")
        finally:
            os.close(fd)
    except OSError as exc:
        raise PathError(f"cannot write {flag} {path}: {exc.strerror}") from None


def _read_only(path: str) -> str:
    if not hasattr(os, "statvfs"):
        return ""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return ""
    return " (read-only file system)" if read_only else ""


def _kind(info: os.stat_result) -> str:
    mode = info.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _shown(path: str) -> str:
    """``path`` for a one-line message: its bytes when it is not UTF-8, shortened when long."""
    try:
        path.encode("utf-8")
        text = path
    except UnicodeEncodeError:
        text = repr(os.fsencode(path)) if _fs_encodable(path) else ascii(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]}"


def _fs_encodable(path: str) -> bool:
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return False
    return True
