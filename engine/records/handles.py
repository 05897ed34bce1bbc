"""`engine.audit` and `engine.submissions`: the records of a case as pages and the API read them.

Each method opens its own session and returns frozen read types; what a reader may not see is
decided here (another country's case is `NotFound`; country users get internal fields
redacted), so pages and the API agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn.forms import FormDefinition, load_form
from engine.errors import NotFound
from engine.people import permissions
from engine.people.access import Actor
from engine.records import audit, history, queries, reports, submissions
from engine.records.audit import Entry, EventFilter
from engine.records.paging import Page
from engine.records.reads import InstanceView
from engine.records.reports import Verdict
from engine.records.submissions import SubmissionInfo
from engine.records.verification import ChainReport
from engine.store.models import Instance, ProcessVersion


@dataclass(frozen=True)
class VersionRow:
    """A deployed model version as the audit pages list it."""

    id: int
    process_key: str
    version: int
    name: str | None
    executable: bool
    main_file: str
    content_hash: str
    deployed_by: str | None
    deployed_at: datetime

    @classmethod
    def of(cls, row: ProcessVersion) -> VersionRow:
        """The snapshot of a version row."""
        return cls(
            id=row.id,
            process_key=row.process_key,
            version=row.version,
            name=row.name,
            executable=row.executable,
            main_file=row.main_file,
            content_hash=row.content_hash,
            deployed_by=row.deployed_by,
            deployed_at=row.deployed_at,
        )


@dataclass(frozen=True)
class Timeline:
    """One page of a case's history as the audit page shows it."""

    instance: InstanceView
    entries: Page[Entry]
    """Events with their version, the changes a submission made and the milestone."""
    options: dict[str, list[str]]
    """The kinds and actors to filter by."""
    start: dict[str, Any]
    """The diagram as it stands now (the replay's starting point)."""


@dataclass(frozen=True)
class SearchResult:
    """One page of events across instances, with what the search page shows beside them."""

    page: Page[Any]
    versions: dict[int, int]
    """Version ids to their numbers."""
    labels: dict[int, str | None]
    """Instance ids to their labels."""
    options: dict[str, list[str]]


class Audit:
    """Reading the hash-chained audit trail: pages of events, replay, checks and exports."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Bind the handle to the engine's sessions."""
        self._sessions = sessions

    def events(
        self, actor: Actor, instance_id: int, *, page: int = 1, per_page: int = 50
    ) -> Page[dict[str, Any]]:
        """One page of an instance's events in their exported form, internal values redacted
        for readers who may not see them (`NotFound` for an instance `actor` may not see)."""
        with self._sessions() as s:
            instance = permissions.visible_instance(s, actor, instance_id)
            hidden = submissions.hidden_for(instance, actor)
            found = queries.history_page(s, instance_id, page=page, per_page=per_page)
            items = []
            for event in (history.event_to_dict(e) for e in found.items):
                event["data"] = submissions.redact_event_data(event["kind"], event["data"], hidden)
                items.append(event)
            return Page(items, found.total, found.page, found.per_page)

    def verify_chain(self, actor: Actor, instance_id: int) -> ChainReport:
        """Check an instance's hash chain (if `actor` may see the instance)."""
        with self._sessions() as s:
            permissions.visible_instance(s, actor, instance_id)
            return history.verify_instance(s, instance_id)

    def verdict(self, actor: Actor, instance_id: int) -> tuple[InstanceView, Verdict]:
        """The instance and its chain's verdict (the audit page's integrity check)."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            return InstanceView.of(row), reports.verify_instance(s, row.id)

    def timeline(
        self,
        actor: Actor,
        instance_id: int,
        *,
        kinds: tuple[str, ...] = (),
        by: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> Timeline:
        """A page of the instance's history (filtered by event kinds and who acted), the
        changes of internal fields left out for readers who may not see them."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            entries = audit.timeline(s, row.id, kinds=kinds, actor=by, page=page, per_page=per_page)
            hidden = submissions.hidden_for(row, actor)
            if hidden:
                entries = entries.map(
                    lambda e: dataclasses.replace(
                        e, changes=[c for c in e.changes if c.path.split(".")[0] not in hidden]
                    )
                )
            return Timeline(
                InstanceView.of(row),
                entries,
                audit.choices(s, row.id),
                audit.replay(s, row.id, row.audit_count),
            )

    def replay(self, actor: Actor, instance_id: int, seq: int | None) -> dict[str, Any]:
        """The diagram as it stood after event `seq` (clamped to the chain; None: now)."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            at = row.audit_count if seq is None else max(0, min(seq, row.audit_count))
            return audit.replay(s, row.id, at)

    def hidden_for(self, actor: Actor, instance_id: int) -> tuple[InstanceView, frozenset[str]]:
        """The instance and the case variables `actor` may not see in its records."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            return InstanceView.of(row), frozenset(submissions.hidden_for(row, actor))

    def export_csv(self, flt: EventFilter, hidden: frozenset[str] = frozenset()) -> str:
        """The events `flt` matches as CSV (internal values in `hidden` withheld)."""
        with self._sessions() as s:
            return reports.export_csv(s, flt, hidden)

    def export_document(
        self,
        flt: EventFilter,
        *,
        exported_at: datetime,
        exported_by: str,
        hidden: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The events `flt` matches as a verifiable JSON document."""
        with self._sessions() as s:
            return reports.export_document(
                s, flt, exported_at=exported_at, exported_by=exported_by, hidden=hidden
            )

    def version_diagram(self, actor: Actor, version_id: int, *, staff: bool) -> str:
        """A deployed version's BPMN. Staff read any; a country user only a version one of
        their country's cases ran (`NotFound` otherwise, as for a missing version)."""
        with self._sessions() as s:
            pv = s.get(ProcessVersion, version_id)
            if pv is None:
                raise NotFound(f"Version {version_id} does not exist.")
            if not staff:
                seen = s.execute(
                    select(Instance.id).where(
                        Instance.process_version_id == version_id,
                        Instance.country == actor.country,
                    )
                ).first()
                if actor.country is None or seen is None:
                    raise NotFound(f"Version {version_id} does not exist.")
            return pv.files.get(pv.main_file) or next(iter(pv.files.values()), "")

    def search(self, flt: EventFilter, *, page: int = 1, per_page: int = 50) -> SearchResult:
        """One page of the events `flt` matches across instances (staff)."""
        with self._sessions() as s:
            return SearchResult(
                audit.search(s, flt, page=page, per_page=per_page),
                {pv.id: pv.version for pv in audit.versions(s)},
                {i: label for i, label in s.execute(select(Instance.id, Instance.label)).all()},
                audit.choices(s),
            )

    def country_report(self, country: str) -> list[dict[str, Any]]:
        """Everything recorded for one country, per case (`audit.country_report`), each case
        as a read type with its submissions under `submissions`."""
        with self._sessions() as s:
            return [
                {
                    **r,
                    "instance": InstanceView.of(r["instance"]),
                    "forms": dict(r["instance"].process_version.forms or {}),
                    "submissions": submissions.listing(s, r["instance"].id),
                }
                for r in reports.country_report(s, country)
            ]

    def versions(self) -> list[VersionRow]:
        """Every deployed model version, newest first per process."""
        with self._sessions() as s:
            return [VersionRow.of(pv) for pv in audit.versions(s)]


class Submissions:
    """What each completed task submitted, as its own record."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Bind the handle to the engine's sessions."""
        self._sessions = sessions

    @staticmethod
    def visible(
        forms: Mapping[str, str], sub: SubmissionInfo, actor: Actor
    ) -> tuple[FormDefinition | None, dict[str, Any]]:
        """A submission's form (from `forms`, its version's form files) and data, without
        the fields `actor` may not see; (None, all its data) when the form is gone."""
        form = load_form(forms, sub.form_file, sub.ui_form_file)
        if form is None:
            return None, dict(sub.data)
        form = submissions.visible_schema(form, actor)
        return form, submissions.visible_data(form, sub.data, actor)

    def for_actor(self, actor: Actor, instance_id: int) -> list[SubmissionInfo]:
        """An instance's submissions as `actor` may see them (internal fields removed), in the
        order they were made; `NotFound` for an instance `actor` may not see."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            return submissions.for_actor(s, row, actor)
