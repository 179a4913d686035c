"""A local folder as a store: the embedded default for the vendor bucket."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from alflow.errors import AlreadyExistsError
from alflow.exchange.store import check_key


class LocalStore:
    """A folder. Write-once is an exclusive hard link of a fully written temp file: atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write_once(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # fails if the key exists; readers never see a partial file
            except FileExistsError:
                raise AlreadyExistsError(f"{self.uri}/{key} already exists") from None
        finally:
            os.unlink(tmp)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def modified(self, key: str) -> str:
        """When the file was written (its mtime), ISO 8601 UTC."""
        mtime = self._path(key).stat().st_mtime
        return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")

    def version(self, key: str) -> str:
        stat = self._path(key).stat()
        return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"

    def download(self, key: str, target: IO[bytes], *, version: str | None = None) -> None:
        if version is not None and self.version(key) != version:
            raise FileNotFoundError(f"{self.uri}/{key} was rewritten since version {version}; read it again")
        with self._path(key).open("rb") as source:
            shutil.copyfileobj(source, target, length=8 * 1024 * 1024)

    def list(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return sorted(keys)
