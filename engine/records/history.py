"""Append-only, hash-chained audit events, and their verification.

Each event's hash covers its content and the previous event's hash in the same chain (one chain
per instance, plus a `system` chain for deployments). Editing a row breaks its hash; deleting or
inserting one breaks the sequence or the link; removing the newest event is caught by the chain
head stored on the instance row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.db import new_row
from engine.store.models import AuditEvent, Instance

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
SYSTEM_CHAIN_LOCK = 0x5046_5359_5354_454D  # "PFSYSTEM"
"""PostgreSQL advisory lock key that serializes appends to the system chain."""


def chain_for(instance_id: int | None) -> str:
    """The chain name an instance's events belong to."""
    return SYSTEM_CHAIN if instance_id is None else f"instance:{instance_id}"


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite returns naive datetimes; every stored time is UTC.
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


COMMITMENTS = "commitments"
"""Event data key: which internal values the hash covers only through a salted digest.

`{"submitted": {"field": "<salt>", ...}}` for a task's fields, `{"old": "<salt>"}` for a whole
value. An export for country users replaces such a value by `{DIGEST: "<hex>"}` and its salt by
null: the event's hash is the same either way, so the export still verifies without revealing
the value (and without the salt, a digest of a short value cannot be guessed)."""
DIGEST = "$sha256"
COMMITTED_KINDS = ("task_completed", "instance_started", "instance_completed", "status_changed")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def value_digest(salt: str, value: Any) -> str:
    """The commitment to one internal value: SHA-256 over the canonical JSON of [salt, value]."""
    return hashlib.sha256(_canonical([salt, value]).encode("utf-8")).hexdigest()


def _committed(salt: Any, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping) and set(value) == {DIGEST}:
        return {DIGEST: value[DIGEST]}
    return {DIGEST: value_digest(salt, value) if isinstance(salt, str) else None}


def hashed_data(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """What an event's hash covers of its data: committed values by their digests (and the
    committed names without their salts); data without `COMMITMENTS` as it is."""
    spec = data.get(COMMITMENTS)
    if not isinstance(spec, Mapping):
        return data
    out = dict(data)
    out[COMMITMENTS] = {k: sorted(v) if isinstance(v, Mapping) else None for k, v in spec.items()}
    for outer, salts in spec.items():
        if isinstance(salts, Mapping):
            inner = dict(out.get(outer) or {})
            for key, salt in salts.items():
                inner[key] = _committed(salt, inner.get(key))
            out[outer] = inner
        else:
            out[outer] = _committed(salts, out.get(outer))
    return out


def internal_paths(kind: str, data: Mapping[str, Any], hidden: Iterable[str]) -> dict[str, Any]:
    """Where an event's data holds internal values: `{outer: [fields]}` or `{outer: None}`."""
    hidden = set(hidden)
    if not hidden:
        return {}
    inner = {
        "task_completed": "submitted",
        "instance_started": "data",
        "instance_completed": "data",
    }.get(kind)
    if inner and isinstance(data.get(inner), Mapping):
        keys = sorted(set(data[inner]) & hidden)
        return {inner: keys} if keys else {}
    if kind == "status_changed" and data.get("variable") in hidden:
        return {"old": None, "new": None}
    return {}


def commit(data: dict[str, Any], paths: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with a fresh salt for each internal value (see `COMMITMENTS`)."""
    if not paths:
        return data
    spec: dict[str, Any] = {}
    for outer, keys in paths.items():
        if keys is None:
            spec[outer] = secrets.token_hex(16)
        else:
            spec[outer] = {k: secrets.token_hex(16) for k in keys}
    return {**data, COMMITMENTS: spec}


def withhold(
    data: Mapping[str, Any], hidden: Iterable[str], kind: str
) -> tuple[dict[str, Any], bool]:
    """`data` with its committed internal values replaced by their digests and their salts
    removed; returns `(data, verifiable)`: False when an internal value was recorded without a
    commitment (events recorded before commitments existed) and had to be left out by name."""
    out = dict(data)
    paths = internal_paths(kind, data, hidden)
    spec = data.get(COMMITMENTS)
    spec = dict(spec) if isinstance(spec, Mapping) else {}
    verifiable = True
    for outer, keys in paths.items():
        salts = spec.get(outer)
        if keys is None:
            if isinstance(salts, str) or (salts is None and outer in spec):
                out[outer] = _committed(salts, out.get(outer))
                spec[outer] = None
            else:
                out[outer], verifiable = WITHHELD, False
            continue
        inner, inner_salts = dict(out.get(outer) or {}), dict(salts or {})
        for key in keys:
            if key in inner_salts:
                inner[key] = _committed(inner_salts[key], inner.get(key))
                inner_salts[key] = None
            else:
                inner[key], verifiable = WITHHELD, False
        out[outer] = inner
        if outer in spec:
            spec[outer] = inner_salts
    if spec:
        out[COMMITMENTS] = spec
    return out, verifiable


WITHHELD = "(internal)"
"""What stands for an internal value that was recorded without a commitment."""


def event_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of an event's content fields and its prev_hash (internal
    values that carry a commitment count by their digest, see `COMMITMENTS`)."""
    content = {
        "chain": fields["chain"],
        "seq": fields["seq"],
        "instance_id": fields.get("instance_id"),
        "process_version_id": fields.get("process_version_id"),
        "kind": fields["kind"],
        "at": fields["at"] if isinstance(fields["at"], str) else _iso(fields["at"]),
        "actor": fields.get("actor"),
        "country": fields.get("country"),
        "element_id": fields.get("element_id"),
        "element_name": fields.get("element_name"),
        "data": hashed_data(fields.get("data") or {}),
        "prev_hash": fields["prev_hash"],
    }
    return hashlib.sha256(_canonical(content).encode("utf-8")).hexdigest()


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    """The exported form of an event: every hashed field plus the hash itself."""
    return {
        "id": event.id,
        "chain": event.chain,
        "seq": event.seq,
        "instance_id": event.instance_id,
        "process_version_id": event.process_version_id,
        "kind": event.kind,
        "at": _iso(event.at),
        "actor": event.actor,
        "country": event.country,
        "element_id": event.element_id,
        "element_name": event.element_name,
        "data": event.data or {},
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _lock_system_chain(session: Session) -> None:
    """Serialize appends to the system chain until the transaction ends.

    Instance chains are serialized by the instance row's version; the system chain has no such
    row, so two transactions could both read the same newest event and take the same next seq.
    On PostgreSQL a transaction-scoped advisory lock queues them; SQLite write transactions
    already hold the database's single write lock (`BEGIN IMMEDIATE`).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(SYSTEM_CHAIN_LOCK)))


_INTERNAL_CACHE: dict[str, frozenset[str]] = {}


def _internal_of(content_hash: str, forms: Mapping[str, str]) -> frozenset[str]:
    """Internal fields of a version's forms, cached by the version's content hash."""
    found = _INTERNAL_CACHE.get(content_hash)
    if found is None:
        from engine.records.submissions import internal_variables  # noqa: PLC0415 (import cycle)

        found = frozenset(internal_variables(forms))
        if len(_INTERNAL_CACHE) > 256:
            _INTERNAL_CACHE.clear()
        _INTERNAL_CACHE[content_hash] = found
    return found


class Recorder:
    """Appends events to one chain inside the caller's transaction."""

    def __init__(self, session: Session, instance: Instance | None, at: datetime) -> None:
        self.session = session
        self.instance = instance
        self.at = at
        self.chain = chain_for(instance.id if instance else None)
        if instance is not None:
            self._seq = instance.audit_count
            self._prev = instance.audit_head or GENESIS
        else:
            _lock_system_chain(session)
            last = session.execute(
                select(AuditEvent.seq, AuditEvent.hash)
                .where(AuditEvent.chain == SYSTEM_CHAIN)
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            ).first()
            self._seq, self._prev = (last[0], last[1]) if last else (0, GENESIS)
        self.events: list[AuditEvent] = []
        self._internal: frozenset[str] | None = None

    def internal(self) -> frozenset[str]:
        """Case variables the instance's forms mark internal (committed to, not hashed as is)."""
        if self._internal is None:
            self._internal = frozenset()
            pv = self.instance.process_version if self.instance is not None else None
            if pv is not None:
                self._internal = _internal_of(pv.content_hash, pv.forms)
        return self._internal

    def record(
        self,
        kind: str,
        *,
        actor: str | None = None,
        element_id: str | None = None,
        element_name: str | None = None,
        data: Mapping[str, Any] | None = None,
        process_version_id: int | None = None,
    ) -> AuditEvent:
        """Append one event; the instance's chain head moves with it."""
        self._seq += 1
        instance = self.instance
        fields: dict[str, Any] = {
            "chain": self.chain,
            "seq": self._seq,
            "instance_id": instance.id if instance else None,
            "process_version_id": process_version_id
            if process_version_id is not None
            else (instance.process_version_id if instance else None),
            "kind": kind,
            "at": _iso(self.at),
            "actor": actor,
            "country": instance.country if instance else None,
            "element_id": element_id,
            "element_name": element_name,
            "data": json.loads(json.dumps(dict(data or {}), default=str)),
            "prev_hash": self._prev,
        }
        if kind in COMMITTED_KINDS and instance is not None and self.internal():
            paths = internal_paths(kind, fields["data"], self.internal())
            fields["data"] = commit(fields["data"], paths)
        fields["hash"] = event_hash(fields)
        fields["at"] = self.at
        event = new_row(AuditEvent, fields)  # inserted only, never updated
        self.session.add(event)
        self.events.append(event)
        self._prev = fields["hash"]
        if instance is not None:
            instance.audit_head = self._prev
            instance.audit_count = self._seq
        return event


# Verification lives in its own module; these names stay importable from here, where the chain
# is written (imported last: `verification` reads this module's hashing functions).
from engine.records.verification import ChainReport as ChainReport  # noqa: E402
from engine.records.verification import verify_all as verify_all  # noqa: E402
from engine.records.verification import verify_events as verify_events  # noqa: E402
from engine.records.verification import verify_export as verify_export  # noqa: E402
from engine.records.verification import verify_instance as verify_instance  # noqa: E402
