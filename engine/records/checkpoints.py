"""Checkpoints: the head of every audit chain, signed with a key kept outside the database.

Hash chains show that no single event was altered, inserted or removed, but someone able to
rewrite the whole database can recompute a whole chain consistently. A checkpoint records each
chain's id, event count and head hash at a moment, signed with an Ed25519 key that lives in a file
(`PATHFINDER_CHECKPOINT_KEY`), and is written to a folder and mailed to the auditors. Later, the
database must still *extend* every listed head: the event at the listed count must carry the
listed hash, and the stored chain must verify. A chain rewritten since fails that test even when it
is consistent in itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from engine.records import history
from engine.store.models import AuditEvent, Instance, OutboxMessage

log = logging.getLogger(__name__)

FORMAT = "pathfinder-checkpoint/1"
"""Names the layout of checkpoint documents."""
FILE_NAME = re.compile(r"^checkpoint-\d{8}T\d{6}Z-[0-9a-f]{8}\.json$")
"""What checkpoint files are called (also the only names the web pages open)."""
_CHUNK = 500


# -- the signing key ----------------------------------------------------------------------------


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path` (PEM, PKCS#8); a new one is made there (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        log.warning("made a new checkpoint signing key at %s: back it up apart from the data", path)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key.")
    return loaded


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (a private key file also works)."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 key.")
        return private.public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key.")
    return key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def public_key_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM text (to hand to auditors who verify offline)."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _signed_bytes(document: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# -- making a checkpoint ------------------------------------------------------------------------


def chain_heads(session: Session) -> list[dict[str, Any]]:
    """Every chain's id, count and head: the system chain, then each instance's (from its row,
    which also records the newest event)."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == history.SYSTEM_CHAIN)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    heads = [
        {
            "chain": history.SYSTEM_CHAIN,
            "count": last[0] if last else 0,
            "head": last[1] if last else history.GENESIS,
        }
    ]
    rows = session.execute(
        select(Instance.id, Instance.audit_count, Instance.audit_head).order_by(Instance.id)
    )
    heads += [
        {"chain": history.chain_for(i), "count": count, "head": head or history.GENESIS}
        for i, count, head in rows
    ]
    return heads


def make(session: Session, key: Ed25519PrivateKey, now: datetime) -> dict[str, Any]:
    """A signed checkpoint document of every chain head as the session sees them."""
    public = key.public_key()
    document: dict[str, Any] = {
        "format": FORMAT,
        "created_at": history._iso(now),
        "key_id": key_id(public),
        "public_key": base64.b64encode(_raw(public)).decode(),
        "how_to_verify": "pathfinder audit verify --checkpoint <this file>",
        "chains": chain_heads(session),
    }
    document["signature"] = base64.b64encode(key.sign(_signed_bytes(document))).decode()
    return document


def file_name(created_at: datetime, digest: str) -> str:
    """`checkpoint-<UTC time>-<start of the file's SHA-256>.json`: sorts by time, never clashes."""
    return f"checkpoint-{created_at.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}.json"


def write(
    session: Session,
    key: Ed25519PrivateKey,
    folder: Path,
    now: datetime,
    *,
    mailbox: str | None = None,
    mail_from_actor: str = "(worker)",
) -> Path:
    """Make a checkpoint, write it to `folder`, queue it for `mailbox` and record that on the
    system chain (the record itself lands in the next checkpoint)."""
    document = make(session, key, now)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = folder / file_name(now, digest)
    tmp = path.with_suffix(".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    if mailbox:
        session.add(
            OutboxMessage(
                dedupe_key=f"checkpoint:{path.name}",
                user_id=None,
                to_address=mailbox,
                kind="checkpoint",
                subject=f"Pathfinder audit checkpoint {document['created_at'][:19]}Z",
                body_text=_mail_text(document, path.name, text),
                body_html=None,
                state="pending",
                attempts=0,
                created_at=now,
            )
        )
    history.Recorder(session, None, now).record(
        "checkpoint_written",
        actor=mail_from_actor,
        data={
            "file": path.name,
            "chains": len(document["chains"]),
            "sha256": digest,
            "key_id": document["key_id"],
            "mailed_to": mailbox,
        },
    )
    return path


def _mail_text(document: Mapping[str, Any], name: str, text: str) -> str:
    return (
        f"This is the audit checkpoint {name} of every chain head ({len(document['chains'])} "
        f"chains), signed with the key {document['key_id']}.\n\n"
        "Keep this message. To check that the database still extends every head, save the JSON "
        "below to a file and run:\n\n"
        f"    pathfinder audit verify --checkpoint {name}\n\n"
        "----- BEGIN CHECKPOINT -----\n"
        f"{text}"
        "----- END CHECKPOINT -----\n"
    )


# -- verifying against a checkpoint -------------------------------------------------------------


@dataclass(frozen=True)
class Rewritten:
    """A chain the database no longer extends from the checkpoint's head."""

    chain: str
    problem: str

    @property
    def message(self) -> str:
        """The rewritten chain and what was found, in one line."""
        return f"{self.chain}: {self.problem}"


@dataclass(frozen=True)
class CheckpointReport:
    """The outcome of verifying the database against one checkpoint."""

    created_at: str
    key_id: str
    signature_ok: bool
    chains: int
    """How many chains the checkpoint lists."""
    rewritten: list[Rewritten] = field(default_factory=list)
    problem: str | None = None
    """Why the checkpoint itself could not be used (bad signature, unknown format)."""

    @property
    def intact(self) -> bool:
        """Whether the signature holds and the database still extends every head."""
        return self.signature_ok and self.problem is None and not self.rewritten

    @property
    def message(self) -> str:
        """The verdict in one sentence for the auditor."""
        if self.problem:
            return f"checkpoint {self.created_at}: {self.problem}"
        if self.rewritten:
            return (
                f"checkpoint {self.created_at}: {len(self.rewritten)} of {self.chains} chains "
                "were rewritten since"
            )
        return f"checkpoint {self.created_at}: all {self.chains} chain heads are extended"


def check_signature(document: Mapping[str, Any], public: Ed25519PublicKey) -> str | None:
    """None when `document` is a checkpoint signed by `public`; otherwise what is wrong."""
    if document.get("format") != FORMAT or not isinstance(document.get("chains"), list):
        return "this is not a Pathfinder checkpoint"
    if document.get("key_id") != key_id(public):
        return (
            f"signed with key {document.get('key_id')}, not with this installation's key "
            f"{key_id(public)}"
        )
    try:
        public.verify(base64.b64decode(str(document.get("signature", ""))), _signed_bytes(document))
    except (InvalidSignature, ValueError):
        return "the signature does not match: the file was changed after it was signed"
    return None


def _stored_hashes(session: Session, wanted: Sequence[tuple[str, int]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(AuditEvent.chain, AuditEvent.hash).where(
                tuple_(AuditEvent.chain, AuditEvent.seq).in_(chunk)
            )
        )
        found.update({chain: digest for chain, digest in rows})
    return found


def verify(
    session: Session,
    document: Mapping[str, Any],
    public: Ed25519PublicKey,
    reports: Sequence[history.ChainReport],
) -> CheckpointReport:
    """Check that the database extends every chain head the signed `document` lists.

    `reports` are the chains verified from the database (`history.verify_all`): a listed chain
    is extended when it still verifies and its event number `count` carries the listed hash.
    """
    created = str(document.get("created_at", "?"))
    listed = [c for c in document.get("chains", []) if isinstance(c, Mapping)]
    problem = check_signature(document, public)
    if problem:
        return CheckpointReport(
            created, str(document.get("key_id")), False, len(listed), [], problem
        )
    by_chain = {r.chain: r for r in reports}
    wanted = [(str(c["chain"]), int(c["count"])) for c in listed if int(c["count"]) > 0]
    stored = _stored_hashes(session, wanted)
    rewritten = []
    for entry in listed:
        chain, count, head = str(entry["chain"]), int(entry["count"]), str(entry["head"])
        if count == 0:
            continue
        report = by_chain.get(chain)
        if chain not in stored:
            what = f"event #{count} is gone (the database holds {report.events if report else 0})"
        elif stored[chain] != head:
            what = (
                f"event #{count} now has hash {stored[chain][:12]}…, the checkpoint recorded "
                f"{head[:12]}…: the chain was rewritten"
            )
        elif report is not None and not report.intact:
            what = f"no longer verifies ({report.message})"
        else:
            continue
        rewritten.append(Rewritten(chain, f"since the checkpoint of {created}, {what}"))
    return CheckpointReport(created, str(document.get("key_id")), True, len(listed), rewritten)


# -- the folder of checkpoints ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointFile:
    """One checkpoint in the folder, as the auditor pages list it."""

    name: str
    created_at: str
    chains: int
    key_id: str


def listing(folder: Path) -> list[CheckpointFile]:
    """The checkpoints in `folder`, newest first (unreadable files are left out)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir(), reverse=True):
        if not FILE_NAME.match(path.name):
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            out.append(
                CheckpointFile(
                    path.name, str(doc["created_at"]), len(doc["chains"]), str(doc["key_id"])
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("skipping unreadable checkpoint %s", path)
    return out


def read(folder: Path, name: str) -> dict[str, Any] | None:
    """The checkpoint called `name` in `folder`, or None (no such file, or not a checkpoint)."""
    if not FILE_NAME.match(name) or not (folder / name).is_file():
        return None
    try:
        document = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def latest_written(session: Session) -> datetime | None:
    """When the newest checkpoint was recorded on the system chain (for the worker's interval)."""
    return session.execute(
        select(AuditEvent.at)
        .where(AuditEvent.chain == history.SYSTEM_CHAIN, AuditEvent.kind == "checkpoint_written")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar()
