"""The restore drill of docs/operations.md, run by `make test`: back up the database, the
attachments and the checkpoint key as documented, restore into a fresh database and folder, and
verify every chain, every attachment hash and the latest checkpoint there."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import Actor, Engine, Settings, VirtualClock
from engine.store.migrate import current
from tests.conftest import ROOT
from tests.engine.records.test_attachments import EOI_DATA, _case, _eoi
from tests.fixtures import documents as docs


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _back_up_database(url: str, folder: Path) -> Path:
    if url.startswith("sqlite"):
        target = folder / "pathfinder.db"
        # What `sqlite3 var/pathfinder.db ".backup <file>"` does: a consistent online copy.
        with sqlite3.connect(make_url(url).database) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return target
    target = folder / "pathfinder.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(target), _libpq(url)], check=True)
    return target


def _restore_database(url: str, dump: Path, folder: Path) -> str:
    if url.startswith("sqlite"):
        restored = folder / "restored.db"
        shutil.copy(dump, restored)
        return f"sqlite:///{restored}"
    fresh = make_url(url).set(database=f"{make_url(url).database}_restore")
    admin = create_engine(fresh.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{fresh.database}"'))
    admin.dispose()
    restored = fresh.render_as_string(hide_password=False)
    subprocess.run(["pg_restore", "--no-owner", "-d", _libpq(restored), str(dump)], check=True)
    return restored


def test_back_up_restore_into_a_fresh_database_and_verify_everything(
    settings: Settings, clock: VirtualClock, actors: dict[str, Actor], tmp_path: Path
) -> None:
    live_settings = dataclasses.replace(settings, checkpoint_key=tmp_path / "secret" / "cp.pem")
    live = Engine.from_settings(live_settings, clock)
    live.deploy_directory(ROOT / "processes", ROOT / "forms")
    people = {a.username: a for a in actors.values()}
    nepal = _case(live, clock, people, "NPL")
    task = _eoi(live, nepal)
    letter = live.tasks.upload(task, "letter_file", "letter.pdf", docs.PDF, people["nima"])
    live.complete(task, {**EOI_DATA, "letter_file": letter.id}, people["nima"])
    checkpoint = live.checkpoints.write(actor="cli")

    # Back up: the database first, then the attachments, then the signing key (kept apart).
    backup = tmp_path / "backup"
    backup.mkdir()
    dump = _back_up_database(settings.database_url, backup)
    shutil.copytree(live_settings.var_dir / "attachments", backup / "attachments")
    shutil.copy(live_settings.checkpoint_key, backup / "cp.pem")
    shutil.copy(checkpoint, backup / checkpoint.name)

    # Restore into a fresh database and a fresh folder.
    fresh = tmp_path / "restored"
    fresh.mkdir()
    restored_url = _restore_database(settings.database_url, dump, fresh)
    shutil.copytree(backup / "attachments", fresh / "var" / "attachments")
    restored_settings = dataclasses.replace(
        settings,
        database_url=restored_url,
        var_dir=fresh / "var",
        checkpoint_key=backup / "cp.pem",
    )
    restored = Engine.from_settings(restored_settings, clock)

    assert current(restored_url) == current(settings.database_url)
    reports = restored.verify()
    assert reports and all(r.intact for r in reports), [r.message for r in reports]
    assert sum(r.events for r in reports) == sum(r.events for r in live.verify())
    assert restored.verify_attachments() == []
    assert restored.verify_attachments(nepal.id) == [] and restored.history(nepal.id)
    report, _ = restored.checkpoints.verify(json.loads((backup / checkpoint.name).read_text()))
    assert report.intact, report.message
    restored.sessions.kw["bind"].dispose()
