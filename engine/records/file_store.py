"""Where attachment files are kept: the `Store` protocol and the local filesystem store.

Files are named by their SHA-256, so one content is stored once however often it is uploaded;
`put` writes to a temporary file and renames it, so a reader never sees half a file. An
S3-compatible bucket would be another `Store`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024


class Store(Protocol):
    """Where file contents live, addressed by their SHA-256 (hex)."""

    def put(self, sha256: str, content: bytes) -> bool:
        """Store `content` unless it is there already; True when it was written."""

    def open(self, sha256: str) -> BinaryIO:
        """The stored content for reading (`FileNotFoundError` if missing)."""

    def digest(self, sha256: str) -> str | None:
        """The SHA-256 of what is stored now under `sha256`, or None when it is missing."""

    def remove(self, sha256: str) -> None:
        """Delete the stored content (nothing happens when it is missing)."""


class LocalStore:
    """Files under `root/ab/cd/<sha256>` (outside the web root: nothing serves them directly)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the file with this SHA-256 lives (`ab/cd/<sha256>`); refuses anything else."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, content: bytes) -> bool:
        """Write the content once (atomic rename); True when it was written."""
        target = self.path(sha256)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.chmod(tmp, 0o640)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The stored file for reading (the caller closes it)."""
        return self.path(sha256).open("rb")

    def digest(self, sha256: str) -> str | None:
        """The SHA-256 of the stored bytes as they are now, or None when the file is missing."""
        try:
            with self.open(sha256) as f:
                h = hashlib.sha256()
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            return None
        return h.hexdigest()

    def remove(self, sha256: str) -> None:
        """Delete the stored file (nothing happens when it is already gone)."""
        self.path(sha256).unlink(missing_ok=True)
