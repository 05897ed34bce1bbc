"""`engine.checkpoints`: signed snapshots of every chain head, written to a folder outside the
database (and mailed to the auditors), and checks of the database against them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock
from engine.config import Settings
from engine.errors import EngineError, NotFound
from engine.records import checkpoints, history
from engine.records.checkpoints import CheckpointFile, CheckpointReport
from engine.records.verification import ChainReport
from engine.transactions import transaction


class Checkpoints:
    """Write, list, read and verify checkpoints (the key and folder come from the settings)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, settings: Settings) -> None:
        """Bind the handle to the engine's sessions, clock and settings."""
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    def write(self, actor: str = "(worker)") -> Path:
        """Sign every chain head into a new checkpoint file (and mail it to the auditors)."""
        if self._settings.checkpoint_key is None:
            raise EngineError(
                "Checkpoints need a signing key: set PATHFINDER_CHECKPOINT_KEY to a file path "
                "outside the database."
            )
        key = checkpoints.load_or_create_key(self._settings.checkpoint_key)
        with transaction(self._sessions) as s:
            return checkpoints.write(
                s,
                key,
                self._settings.checkpoints_folder,
                self._clock.now(),
                mailbox=self._settings.audit_mailbox,
                mail_from_actor=actor,
            )

    def due(self) -> bool:
        """Whether the worker should write a checkpoint now (a key is set and the interval
        since the last one has passed)."""
        if self._settings.checkpoint_key is None:
            return False
        with self._sessions() as s:
            last = checkpoints.latest_written(s)
        interval = timedelta(hours=self._settings.checkpoint_interval_hours)
        return last is None or self._clock.now() - last >= interval

    def listing(self) -> list[CheckpointFile]:
        """The checkpoint files in the checkpoint folder, newest first."""
        return checkpoints.listing(self._settings.checkpoints_folder)

    def read(self, name: str) -> dict[str, Any]:
        """A checkpoint of the folder by file name; `NotFound` for anything else."""
        document = checkpoints.read(self._settings.checkpoints_folder, name)
        if document is None:
            raise NotFound(f"There is no checkpoint called {name}.")
        return document

    def verify(
        self, document: Mapping[str, Any], public_key: Path | None = None
    ) -> tuple[CheckpointReport, list[ChainReport]]:
        """Verify every chain, and that the database extends every head `document` lists;
        the signature is checked with `public_key` (default: this installation's key)."""
        key_file = public_key or self._settings.checkpoint_key
        if key_file is None or not key_file.exists():
            raise EngineError(
                "No key to check the checkpoint's signature with: set PATHFINDER_CHECKPOINT_KEY "
                "or name the public key file."
            )
        public = checkpoints.load_public_key(key_file)
        with self._sessions() as s:
            reports = history.verify_all(s)
            return checkpoints.verify(s, document, public, reports), reports
