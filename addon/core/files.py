"""Files the user names, and files NFTGan writes, with clear errors (no bpy).

- `open_regular` / `read_regular`: only a regular file is read. A FIFO is opened without blocking
  and refused (reading one would wait forever for a writer); a folder or a device is refused too.
- `write_durably`: temp name, fsync, rename, so a crash or a full disk leaves the old file or the
  new one, never half of one (the temp file is removed when the write fails).
- `refuse_overwrite`: a result never replaces its source (the user's sketch, a checkpoint, ...).
- `os_error_message`: what an OSError means for the user (a full disk, no permission, ...).
- `not_a_folder`: a folder to write in that a file stands in the way of, said in one line.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from .errors import UserError

_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


class FileError(UserError, OSError):
    """A file problem with a message meant for the user as it is (an OSError: `except OSError` sees it)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def os_error_message(exc: OSError, what: str) -> str:
    """`what` (e.g. "writing /x/y.png") and what the error means, with what to do about it; a FileError's own
    message as it is (it says what and why already)."""
    if isinstance(exc, FileError):
        return str(exc)
    if exc.errno in _FULL:
        return f"{what}: the disk is full (or the file is larger than this system allows); free some space and try again"
    if exc.errno in _DENIED:
        return f"{what}: not allowed (read-only disk or no permission); choose a folder you can write to"
    return f"{what}: {exc.strerror or exc}"


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading; FileError for a FIFO, a folder or a device (without blocking)."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise FileError(exc.errno, f"{path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = (
            "a folder"
            if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "not a file"
        )
        raise FileError(errno.EINVAL, f"{path} is {kind}, not a regular file; give the path of a file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(path: str | os.PathLike) -> bytes:
    with open_regular(path) as fh:
        return fh.read()


def write_durably(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary name, fsync, rename: a crash leaves the old file or the new one. On any
    failure (Ctrl+C too, which goes on up) the temporary file is removed and a FileError says what happened
    (e.g. the disk is full). The temporary name is this process's own, so two processes writing one file
    each write a whole one, and it is made anew (a link planted at that name is replaced, not written through)."""
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        # made anew, never opened through what is at that name: a link planted there (in a folder others can
        # write to) had the bytes written into the file it points to; one left by a process of this id is removed
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(exc, FileError) or not isinstance(exc, OSError):
            raise
        raise FileError(exc.errno, os_error_message(exc, f"writing {os.fspath(path)}")) from None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (links and relative paths included; False if `b` does not exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def not_a_folder(flag: str, path: str | os.PathLike, folder: str | os.PathLike | None = None) -> str:
    """The one line that says why `flag PATH` cannot be written: `folder` (the folder PATH goes in; default: PATH
    itself, a folder to make) or a folder above it is a file (a typo, or a file where the folder was meant to
    be); "" when nothing is in the way."""
    path = os.fspath(path)
    blocker = os.path.normpath(os.fspath(folder) if folder is not None else path)
    while blocker and not os.path.exists(blocker):
        parent = os.path.dirname(blocker)
        blocker = "" if parent == blocker else parent
    if not blocker or os.path.isdir(blocker):
        return ""
    where = f"{flag} {path}" + (
        " is a file" if blocker == os.path.normpath(path) else f": {blocker} is a file"
    )
    return f"{where}, not a folder: give another path, or move the file"


def refuse_overwrite(output: str | os.PathLike, *sources: str | os.PathLike, what: str = "the input") -> None:
    """FileError if writing `output` would replace one of `sources`."""
    for source in sources:
        if source and same_file(source, output):
            raise FileError(
                errno.EEXIST,
                f"{os.fspath(output)} is {what} itself: NFTGan never writes a result over its source. "
                "Choose another output name.",
            )


def lock(path: str | os.PathLike, wait: bool = True) -> int | None:
    """An exclusive lock on the file `path`, created if need be, held until the returned descriptor is
    closed; it ends with the process however it ends (kill -9 too), so nothing is left to clean up.
    `wait=False`: BlockingIOError at once when another process holds it. None where files cannot be locked
    (some network and FUSE file systems): the caller goes on unlocked.
    POSIX: flock. Windows: msvcrt.locking of one byte far past the end of the file (a Windows lock is
    mandatory: locking byte 0 would stop others reading what the holder writes there, as the training run's
    process id); Windows ends it when the process ends. A link at `path` is refused (FileError): a link planted
    in a folder others can write to would have the lock file made, or a run's process id written, where it
    points."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise FileError(
            errno.ELOOP,
            f"{os.fspath(path)} is a link: NFTGan makes its lock file there itself, never through a link; "
            "remove the link (someone with access to that folder may have put it there)",
        ) from exc
    try:
        if os.name == "nt":
            _lock_windows(fd, wait)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        raise
    except OSError:
        os.close(fd)
        return None
    return fd


_WINDOWS_LOCK_BYTE = 1 << 30  # the byte locked: past any lock file's content


def _lock_windows(fd: int, wait: bool) -> None:
    import msvcrt
    import time

    os.lseek(fd, _WINDOWS_LOCK_BYTE, os.SEEK_SET)  # msvcrt.locking locks from the file position
    while True:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EDEADLK):  # not 'another process holds it'
                raise
            if not wait:
                raise BlockingIOError(errno.EWOULDBLOCK, "locked by another process") from exc
            time.sleep(0.05)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            return
