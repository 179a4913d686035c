"""A local folder as a store: the embedded default for the vendor bucket.

A folder shared with a vendor is written by someone alflow does not control, so the store never
follows a symbolic link: every path is walked from the bucket's root one folder at a time, each
opened with O_NOFOLLOW, and a key that is a link or passes through one raises LinkRefusedError
(the ingest refuses it with reason `link`, without reading a byte behind it). Only regular files
are read (a FIFO would block a round forever). Listing reports links and other non-files as keys,
so the ingest can say what it refused.

Files and folders are created with the process's umask (0666 and 0777 before it, as any program
writes them), so a vendor working under another user on a shared mount can read the batches.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from alflow.errors import AlreadyExistsError, LinkRefusedError, NotAFileError
from alflow.exchange.store import check_key

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_TMP = ".tmp-"
_BLOCK = 8 * 1024 * 1024


def _tag(info: os.stat_result) -> str:
    return f"{info.st_mtime_ns:x}-{info.st_size:x}-{info.st_ctime_ns:x}-{info.st_ino:x}"


class LocalStore:
    """A folder. Write-once is an exclusive hard link of a fully written temp file: atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _refused(self, key: str) -> LinkRefusedError:
        return LinkRefusedError(
            f"{self.uri}/{key} is a symbolic link (or lies behind one): a folder bucket never follows links"
        )

    def _descend(self, parts: list[str], key: str, *, create: bool = False) -> int:
        """An fd of the folder root/parts..., each step opened without following a link."""
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    inner = os.open(part, _DIR, dir_fd=fd)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._refused(key) from None
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def _folder(self, key: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """(fd of the folder holding `key`, the key's last part), reached without following a link."""
        *parts, name = check_key(key).split("/")
        fd = self._descend(parts, key, create=create)
        try:
            yield fd, name
        finally:
            os.close(fd)

    @contextmanager
    def _open(self, key: str) -> Iterator[IO[bytes]]:
        """The regular file at `key`, opened without following a link."""
        with self._folder(key) as (folder, name):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise self._refused(key) from None
                raise
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotAFileError(f"{self.uri}/{key} is not a regular file: it is not read")
            yield handle

    def _stat(self, key: str) -> os.stat_result:
        with self._folder(key) as (folder, name):
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            raise self._refused(key)
        if stat.S_ISDIR(info.st_mode):
            raise FileNotFoundError(f"{self.uri}/{key} is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise NotAFileError(f"{self.uri}/{key} is not a regular file (a FIFO, socket or device): it is not read")
        return info

    def read(self, key: str) -> bytes:
        with self._open(key) as handle:
            return handle.read()

    def write_once(self, key: str, data: bytes) -> None:
        self._write(key, lambda handle: handle.write(data))

    def write_once_from(self, key: str, source: IO[bytes]) -> None:
        self._write(key, lambda handle: shutil.copyfileobj(source, handle, length=_BLOCK))

    def _write(self, key: str, fill) -> None:
        with self._folder(key, create=True) as (folder, name):
            tmp = f"{_TMP}{uuid.uuid4().hex}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    fill(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:  # fails if the key exists (even as a link); readers never see a partial file
                    os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
                except FileExistsError:
                    raise AlreadyExistsError(f"{self.uri}/{key} already exists") from None
            finally:
                os.unlink(tmp, dir_fd=folder)

    def exists(self, key: str) -> bool:
        try:
            self._stat(key)
        except (FileNotFoundError, NotADirectoryError, LinkRefusedError):
            return False
        return True

    def size(self, key: str) -> int:
        return self._stat(key).st_size

    def modified(self, key: str) -> str:
        """When the file was written (its mtime), ISO 8601 UTC."""
        return datetime.fromtimestamp(self._stat(key).st_mtime, UTC).isoformat(timespec="seconds")

    def version(self, key: str) -> str:
        """mtime, size, ctime and inode: a content change always moves ctime (which no program sets
        back, unlike mtime after `cp -p`, `rsync -t` or `touch -r`), a file replaced by a rename
        has another inode."""
        return _tag(self._stat(key))

    def download(self, key: str, target: IO[bytes], *, version: str | None = None) -> None:
        with self._open(key) as source:
            if version is not None and _tag(os.fstat(source.fileno())) != version:
                raise FileNotFoundError(f"{self.uri}/{key} was rewritten since version {version}; read it again")
            shutil.copyfileobj(source, target, length=_BLOCK)
            if version is not None and _tag(os.fstat(source.fileno())) != version:  # written to while read
                raise FileNotFoundError(f"{self.uri}/{key} was rewritten while it was read; read it again")

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`: regular files, and links and other non-folders (reported, never followed)."""
        base = prefix.strip("/")
        try:
            fd = self._descend(check_key(base).split("/") if base else [], base)
        except (FileNotFoundError, NotADirectoryError, LinkRefusedError):
            return []
        return sorted(self._walk(fd, f"{base}/" if base else ""))

    def _walk(self, fd: int, prefix: str) -> Iterator[str]:
        try:
            with os.scandir(fd) as entries:
                found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries if not e.name.startswith(_TMP)]
            for name, is_dir in found:
                if not is_dir:
                    yield prefix + name
                    continue
                try:
                    inner = os.open(name, _DIR, dir_fd=fd)
                except OSError:
                    continue
                yield from self._walk(inner, f"{prefix}{name}/")
        finally:
            os.close(fd)
