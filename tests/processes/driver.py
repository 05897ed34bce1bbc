"""A small driver that plays the four roles of pathfinder.bpmn against the engine.

Each step goes through the public `Engine` API as the lane's role would. After every step the
stored workflow state is restored and serialized again and must come out unchanged (SpiffWorkflow's
own test practice), so a scenario also proves that save/restore loses nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine import Actor, Engine, VirtualClock, with_given_rows
from engine.bpmn.serialization import dump_state, load_state
from engine.store.models import HumanTask, Instance
from tests.processes import coverage
from tests.processes.samples import sample

ROOT = Path(__file__).resolve().parents[2]
BPMN = ROOT / "processes" / "pathfinder.bpmn"
FORMS = ROOT / "forms"

LANE_ACTORS = {
    "Country": Actor("nima", ["country"], country="NPL"),
    "Secretariat": Actor("sam", ["secretariat"]),
    "GCG Chair": Actor("chris", ["chair"]),
    "GCG": Actor("gus", ["gcg"]),
}
SECRETARIAT = LANE_ACTORS["Secretariat"]


def deploy_pathfinder(engine: Engine) -> None:
    forms = {p.name: p.read_bytes() for p in sorted(FORMS.glob("*.json"))}
    engine.deploy({"pathfinder.bpmn": BPMN.read_bytes()}, forms=forms, actor="owner")


class Pathfinder:
    """One pathfinder instance and the people working on it."""

    def __init__(self, engine: Engine, clock: VirtualClock) -> None:
        self.engine = engine
        self.clock = clock
        self.id: int | None = None

    # -- acting -----------------------------------------------------------------------------

    def start(self, country: str = "NPL", country_name: str = "Nepal") -> Instance:
        row = self.engine.start(
            "pathfinder", {"country": country, "country_name": country_name}, SECRETARIAT
        )
        self.id = row.id
        self.check_round_trip()
        return row

    def task(self, element_id: str) -> HumanTask:
        """The single open task for `element_id` (fails if there is none or several)."""
        found = [t for t in self.ready() if t.element_id == element_id]
        assert len(found) == 1, f"expected one open '{element_id}', open: {self.offered()}"
        return found[0]

    def do(self, element_id: str, actor: Actor | None = None, **overrides: Any) -> Instance:
        """Complete `element_id` as its lane's role with the sample form data (+ overrides)."""
        task = self.task(element_id)
        who = actor or LANE_ACTORS[task.lane]
        row = self.engine.complete(task.id, sample(element_id, **overrides), who)
        assert row.status in ("running", "completed"), (row.status, row.error_message)
        self.check_round_trip()
        return row

    def withdraw(self, reason: str = "Change of government priorities") -> Instance:
        row = self.engine.instances.send_message(
            self.id, "withdrawal", {"reason": reason}, SECRETARIAT
        )
        self.check_round_trip()
        return row

    def wait_until(self, moment: datetime | str) -> None:
        """Move the clock to `moment` (a date means 09:00 UTC that day) and fire due timers."""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment).replace(hour=9, tzinfo=UTC)
        if moment > self.clock.now():
            self.clock.set(moment)
        self.engine.fire_due_timers()
        self.check_round_trip()

    def wait(self, days: int) -> None:
        self.clock.advance(days=days)
        self.engine.fire_due_timers()
        self.check_round_trip()

    # -- looking ----------------------------------------------------------------------------

    def ready(self) -> list[HumanTask]:
        return self.engine.ready_tasks(instance_id=self.id)

    def offered(self) -> dict[str, str]:
        """Open tasks as {element id: lane}: what each role sees in its inbox."""
        return {t.element_id: t.lane for t in self.ready()}

    def offered_rows(self, element_id: str, field: str) -> list[dict[str, Any]]:
        """The rows the open task's form offers for `field`, as the task page shows them: the
        ones the case gives (`x-rows-from`), with their read-only values."""
        self.task(element_id)
        schema = json.loads((FORMS / f"{element_id}.schema.json").read_text())
        return list(with_given_rows(schema, {}, self.variables())[field])

    def instance(self) -> Instance:
        return self.engine.instance(self.id)

    def variables(self) -> dict[str, Any]:
        """The instance data as users and the API see it (data objects included by the engine)."""
        return dict(self.instance().data)

    def status(self) -> str:
        return self.variables()["pathfinder_status"]

    def stage(self) -> str | None:
        return self.instance().stage

    def reached(self) -> set[str]:
        """Flow node ids and sequence flow ids this instance went through (from the audit)."""
        return coverage.reached_from_history(self.engine.history(self.id))

    # -- checks -----------------------------------------------------------------------------

    def check_round_trip(self) -> None:
        """Restore the stored workflow and serialize it again: nothing may change."""
        with self.engine.session() as s:
            row = s.get(Instance, self.id)
            version = row.process_version
            specs = self.engine.runtime.specs.get(version.id, version.dialect, version.spec_json)
            wf = load_state(version.dialect, row.state, specs)
            again = dump_state(version.dialect, wf)
            assert json.loads(again) == json.loads(row.state)

    def record_coverage(self, test_id: str) -> None:
        if self.id is not None:
            coverage.record(test_id, self.reached())

    # -- whole phases, for the scenarios that start later in the procedure --------------------

    def to_expression_of_interest(self) -> None:
        self.start()
        self.do("register_approach")
        self.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
        self.wait_until("2027-02-15")
        self.do("record_observer_participation")

    def to_award(self, letter_date: str = "2027-09-15") -> None:
        self.to_expression_of_interest()
        self.do("submit_expression_of_interest")
        self.do("review_expression_of_interest")
        self.do("submit_workshop_report")
        self.do("review_workshop_report")
        self.do("report_back_to_gcg")
        self.do("consider_country_report")
        self.wait_until(letter_date)
        self.do("send_confirmation_letter", confirmation_letter_date=letter_date)

    def annual_review(self, year: int, **decision: Any) -> None:
        """Wait for anniversary `year` of the award and run the review with `decision`."""
        anniversary = self.variables()["next_review_at"]
        assert "submit_annual_progress_report" not in self.offered()
        self.wait_until(anniversary)
        assert self.variables()["review_number"] == year
        self.do("submit_annual_progress_report")
        self.do("prepare_annual_review")
        self.do("decide_annual_review", **decision)
