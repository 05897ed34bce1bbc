"""`engine.tasks`: the human tasks as the inbox, the task page and the API read and act on them.

Each method opens its own session (reads) or one transaction (actions) and hands back frozen
read types (`engine.records.reads`), never rows. The handle holds only the collaborators it
needs (sessions, runtime, clock, settings, file store), not the `Engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn.forms import FormDefinition, load_form
from engine.clock import Clock
from engine.config import Settings
from engine.errors import NotFound
from engine.people import permissions
from engine.people.access import Actor
from engine.records import attachments, queries, submissions
from engine.records.attachments import AttachmentInfo
from engine.records.paging import Page
from engine.records.queries import LaneCache
from engine.records.reads import (
    Colleague,
    InstanceDetail,
    InstanceView,
    TaskDetail,
    TaskPage,
    TaskView,
)
from engine.runtime import execution, submission_flow, tasks
from engine.runtime.submission_flow import SubmitAction, SubmitResult, Upload
from engine.store.models import HumanTask, Instance
from engine.transactions import transaction


def instance_detail(row: Instance, open_tasks: Sequence[HumanTask], actor: Actor) -> InstanceDetail:
    """An instance with its open tasks and the variables `actor` may see (rows in memory)."""
    return InstanceDetail(
        instance=InstanceView.of(row),
        open_tasks=[TaskView.of(t) for t in open_tasks],
        variables=submissions.visible_variables(row, actor),
        forms=dict(row.process_version.forms or {}),
    )


class Tasks:
    """Open tasks: the inbox, one task's page, claiming, drafts, uploads and completion."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        runtime: execution.Runtime,
        clock: Clock,
        settings: Settings,
        files: attachments.Store,
    ) -> None:
        """Bind the handle to the engine's sessions, runtime, clock, settings and file store."""
        self._sessions = sessions
        self._runtime = runtime
        self._clock = clock
        self._settings = settings
        self._files = files

    # -- reading -----------------------------------------------------------------------------

    def inbox(
        self, actor: Actor, *, lanes: LaneCache | None = None, **filters: Any
    ) -> Page[TaskView]:
        """The open tasks `actor` may act on, filtered, sorted and paginated (the filters of
        `engine.records.queries.task_query`); `lanes` shares what the actor's lanes are
        between the calls of one request."""
        with self._sessions() as s:
            found = queries.task_query(s, actor, now=self._clock.now(), lanes=lanes, **filters)
            return found.map(TaskView.of)

    def counts(self, actor: Actor, *, lanes: LaneCache | None = None) -> dict[str, int]:
        """Open, overdue and own-claimed task counts for the navigation (capped, see
        `count_label`)."""
        with self._sessions() as s:
            return queries.task_counts(s, actor, self._clock.now(), lanes)

    @staticmethod
    def count_label(count: int, capped: bool = False) -> str:
        """A count for people: `1,000+` past the cap."""
        return queries.count_label(count, capped)

    def inbox_details(
        self, actor: Actor, *, lanes: LaneCache | None = None, **filters: Any
    ) -> Page[TaskDetail]:
        """`inbox`, each task with its form and its instance's version (the API's list), in one
        session; the forms come from the version cache. One instance's tasks (`instance_id`)
        come in one statement with their instance's columns; a longer list reads the page's
        instances in a second one, so the inbox keeps its plan."""
        now = self._clock.now()
        with self._sessions() as s:
            if filters.get("instance_id") is not None:
                rows = queries.task_query(
                    s, actor, now=now, lanes=lanes, with_instance=True, **filters
                )
                return rows.map(
                    lambda r: self._detail(s, r, r.instance_version_id, r.instance_lock_version)
                )
            found = queries.task_query(s, actor, now=now, lanes=lanes, **filters)
            facts = queries.instance_facts(s, {ht.instance_id for ht in found.items})
            return found.map(
                lambda ht: self._detail(
                    s, ht, facts[ht.instance_id].version_id, facts[ht.instance_id].lock_version
                )
            )

    def detail(self, actor: Actor, task_id: str) -> TaskDetail:
        """A task with its form, if `actor` may see its instance (`NotFound` otherwise, alike
        for a missing task and another country's)."""
        with self._sessions() as s:
            ht, facts = _visible_by_instance(s, actor, task_id)
            return self._detail(s, ht, facts.version_id, facts.lock_version)

    def check_visible(self, actor: Actor, task_id: str) -> str:
        """The task id, after `NotFound` for a task of an instance `actor` may not see."""
        with self._sessions() as s:
            _visible_by_instance(s, actor, task_id)
        return task_id

    def _detail(self, s: Session, task: Any, version_id: int, lock_version: int) -> TaskDetail:
        # A version's forms never change once deployed: read from the runtime's version cache.
        forms = execution.cached_version(s, self._runtime, version_id).forms
        form = load_form(forms, task.form_file, task.ui_form_file)
        return TaskDetail(TaskView.of(task), lock_version, form)

    def check_may_act(self, actor: Actor, task_id: str) -> TaskView:
        """The task, if `actor` may act on it: `NotFound` for another country's task (as for a
        missing one), `Forbidden` for a lane the actor's roles do not cover."""
        with self._sessions() as s:
            ht = permissions.visible_task(s, actor, task_id)
            permissions.check_may_act(s, actor, ht)
            return TaskView.of(ht)

    def page(self, actor: Actor, task_id: str) -> TaskPage:
        """What the task page shows (as `check_may_act` decides who may open it)."""
        with self._sessions() as s:
            ht = permissions.visible_task(s, actor, task_id)
            permissions.check_may_act(s, actor, ht)
            instance = s.get(Instance, ht.instance_id)
            assert instance is not None  # a foreign key guarantees it
            return _task_page(s, actor, ht, instance)

    def uploaded(self, ids: Sequence[Any]) -> dict[str, AttachmentInfo]:
        """Documents by id (unknown ids left out), for showing what a form holds."""
        with self._sessions() as s:
            return attachments.by_ids(s, ids)

    # -- acting ------------------------------------------------------------------------------

    def complete(
        self,
        task_id: str,
        data: Mapping[str, Any],
        actor: Actor,
        *,
        expected_version: int | None = None,
        visible_only: bool = False,
    ) -> tuple[Instance, list[HumanTask]]:
        """Complete a ready task with form data as `actor` and run the instance on, in one
        transaction (`engine.runtime.tasks.complete_task`); the instance row and its
        open tasks afterwards. `expected_version` refuses a stale page with `Conflict`;
        `visible_only` answers a task of an instance `actor` may not see as `NotFound`."""
        with transaction(self._sessions, lock_late=True) as s:
            return tasks.complete_task(
                s,
                self._runtime,
                task_id,
                data,
                actor,
                expected_version=expected_version,
                max_upload_mb=self._settings.max_upload_mb,
                visible_only=visible_only,
            )

    def complete_and_show(
        self,
        task_id: str,
        data: Mapping[str, Any],
        actor: Actor,
        *,
        expected_version: int | None = None,
    ) -> InstanceDetail:
        """`complete`, answered with the instance as it continued (built from memory); a task
        of an instance `actor` may not see is `NotFound`, checked inside the completion's
        transaction (no read of its own)."""
        row, open_rows = self.complete(
            task_id, data, actor, expected_version=expected_version, visible_only=True
        )
        return instance_detail(row, open_rows, actor)

    def submit(
        self,
        task_id: str,
        actor: Actor,
        *,
        parse: Callable[[FormDefinition], dict[str, Any]],
        uploads: Sequence[Upload] = (),
        action: SubmitAction = SubmitAction.COMPLETE,
        expected_version: int | None = None,
    ) -> SubmitResult:
        """Handle one posted task form in one transaction: one permission check, one form
        load, the files stored, then a draft saved or the task completed (see
        `engine.runtime.submission_flow`). Refusals come back in the result, files kept."""
        with transaction(self._sessions, lock_late=True) as s:
            return submission_flow.submit(
                s,
                self._runtime,
                self._files,
                actor,
                task_id,
                parse=parse,
                uploads=uploads,
                action=action,
                expected_version=expected_version,
                now=self._clock.now(),
                max_upload_mb=self._settings.max_upload_mb,
                max_draft_kb=self._settings.max_draft_kb,
            )

    def upload(
        self, task_id: str, field: str, filename: str, content: bytes, actor: Actor
    ) -> AttachmentInfo:
        """Check and store a file for a file field of an open task (before the form is
        submitted); `InvalidData` keyed by the field says why a file was refused."""
        with transaction(self._sessions) as s:
            opened = tasks.open_with_form(s, actor, task_id)
            return attachments.store_upload(
                s,
                self._files,
                opened.task,
                opened.form,
                field,
                filename,
                content,
                actor,
                now=self._clock.now(),
                max_mb=self._settings.max_upload_mb,
            )

    def claim(self, task_id: str, actor: Actor, assignee: str | None = None) -> TaskView:
        """Take a task (or, for the Secretariat and admins, give it to `assignee`)."""
        with transaction(self._sessions) as s:
            return TaskView.of(tasks.claim(s, task_id, actor, assignee, now=self._clock.now()))

    def unclaim(self, task_id: str, actor: Actor) -> TaskView:
        """Release a task so anyone in its lane can take it."""
        with transaction(self._sessions) as s:
            return TaskView.of(tasks.unclaim(s, task_id, actor, now=self._clock.now()))

    def take_over(self, task_id: str, actor: Actor, reason: str) -> TaskView:
        """Move a task a colleague holds to `actor` (Secretariat, admins), audited with why."""
        with transaction(self._sessions) as s:
            return TaskView.of(tasks.take_over(s, task_id, actor, reason, now=self._clock.now()))

    def save_draft(self, task_id: str, data: Mapping[str, Any], actor: Actor) -> TaskView:
        """Keep unfinished form input on the task for later (not validated)."""
        with transaction(self._sessions) as s:
            row = tasks.save_draft(
                s,
                task_id,
                data,
                actor,
                max_kb=self._settings.max_draft_kb,
                max_upload_mb=self._settings.max_upload_mb,
            )
            return TaskView.of(row)


def _visible_by_instance(
    s: Session, actor: Actor, task_id: str
) -> tuple[Any, queries.InstanceFacts]:
    found = queries.task_with_instance(s, task_id)
    if found is None or not permissions.may_see_instance_in(actor, found[1].country):
        raise NotFound(f"Task {task_id} does not exist.", task_id=task_id)
    return found


def _task_page(s: Session, actor: Actor, ht: HumanTask, instance: Instance) -> TaskPage:
    forms = dict(instance.process_version.forms or {})
    form = load_form(forms, ht.form_file, ht.ui_form_file)
    listing = submissions.listing(s, instance.id)
    reviewed = []
    for sub in submissions.under_review(s, instance, form) if form else []:
        earlier = [
            r
            for r in listing
            if r.element_id == sub.element_id
            and (r.submitted_at, r.id) < (sub.submitted_at, sub.id)
        ]
        reviewed.append((sub, earlier[-1] if earlier else None))
    colleagues = (
        [Colleague(u.username, u.display_name) for u in permissions.assignable_users(s, ht)]
        if permissions.may_act_for_others(actor)
        else []
    )
    return TaskPage(
        task=TaskView.of(ht),
        instance=InstanceView.of(instance),
        forms=forms,
        form=form,
        opened=submissions.prefill(s, instance, ht),
        under_review=reviewed,
        submissions=listing,
        previous_round=submissions.previous_round(s, instance, ht, form),
        documents=attachments.listing(
            s, instance_id=instance.id, hidden_fields=attachments.hidden_fields(instance, actor)
        ),
        colleagues=colleagues,
        held_since=tasks.held_since(s, ht) if ht.claimed_by else None,
    )
