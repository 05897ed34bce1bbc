"""The audit trail as an auditor reads it: every event kind with its actor and data after a full
Pathfinder scenario, gateway decisions with their deciding values, submissions as changes,
replay, search (on indexes), exports that verify offline, and the per-country report.

`country_with_two_reviews` is shared with the web and end-to-end audit tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from engine import Actor, Engine, VirtualClock
from engine.people.accounts import create_user
from engine.records import audit, history, reports
from engine.store.db import transaction
from engine.store.models import AuditEvent, User
from tests.processes.driver import LANE_ACTORS, SECRETARIAT, Pathfinder, deploy_pathfinder
from tests.processes.samples import SHORTFALL_UNJUSTIFIED, sample

ADMIN = Actor("ada", ["admin"])
AUDITOR = Actor("aud", ["auditor"])


def _ensure_user(engine: Engine, actor: Actor) -> None:
    with transaction(engine.sessions) as s:
        if s.query(User).filter_by(username=actor.username).first() is None:
            create_user(
                s,
                actor.username,
                "password-1",
                list(actor.roles),
                now=engine.now(),
                country=actor.country,
            )


def country_with_two_reviews(
    engine: Engine, clock: VirtualClock, *, deploy: bool = True
) -> Pathfinder:
    """Nepal awarded in 2027 (with a claim, a release and an assignment on the way), then an
    unjustified shortfall at the 2028 review and good progress at the 2029 one."""
    if deploy:
        deploy_pathfinder(engine)
    p = Pathfinder(engine, clock)
    p.to_expression_of_interest()
    p.do("submit_expression_of_interest")
    review = p.task("review_expression_of_interest")
    engine.claim(review.id, SECRETARIAT)
    engine.tasks.unclaim(review.id, SECRETARIAT)
    _ensure_user(engine, SECRETARIAT)  # a task is assigned only to an existing user
    engine.claim(review.id, ADMIN, assignee=SECRETARIAT.username)
    for step in (
        "review_expression_of_interest",
        "submit_workshop_report",
        "review_workshop_report",
        "report_back_to_gcg",
        "consider_country_report",
    ):
        p.do(step)
    p.wait_until("2027-09-15")
    p.do("send_confirmation_letter", confirmation_letter_date="2027-09-15")
    p.annual_review(1, **SHORTFALL_UNJUSTIFIED)
    p.annual_review(2)
    return p


def second_review_starts(events: list[AuditEvent]) -> int:
    """The seq of the timer that opened the second annual review."""
    fired = [
        e.seq
        for e in events
        if e.kind == "timer_fired" and e.element_id == "review_anniversary_reached"
    ]
    return fired[1]


def second_review_offered(events: list[AuditEvent]) -> int:
    """The seq at which the second annual progress report was offered to the Country."""
    start = second_review_starts(events)
    return next(
        e.seq
        for e in events
        if e.seq > start
        and (e.kind, e.element_id) == ("task_ready", "submit_annual_progress_report")
    )


@pytest.fixture
def nepal(engine: Engine, clock: VirtualClock) -> Pathfinder:
    return country_with_two_reviews(engine, clock)


def _kinds(events: list[AuditEvent]) -> dict[str, list[AuditEvent]]:
    out: dict[str, list[AuditEvent]] = {}
    for e in events:
        out.setdefault(e.kind, []).append(e)
    return out


def test_every_event_kind_appears_with_the_right_actor_and_data(
    engine: Engine, nepal: Pathfinder
) -> None:
    p = nepal
    engine.instances.suspend(p.id, SECRETARIAT, "Elections: ministry not staffed")
    engine.instances.resume(p.id, SECRETARIAT)
    p.withdraw("Change of government priorities")
    kenya = engine.start("pathfinder", {"country": "KEN", "country_name": "Kenya"}, SECRETARIAT)
    engine.instances.cancel(kenya.id, ADMIN, "Duplicate case")

    by_kind = _kinds(engine.history(p.id))
    expected = {
        "instance_started", "element_completed", "task_ready", "task_claimed", "task_unclaimed",
        "task_assigned", "task_completed", "task_cancelled", "gateway_decision",
        "timer_scheduled", "timer_fired", "status_changed", "instance_suspended",
        "instance_resumed", "message_received", "instance_completed",
    }  # fmt: skip
    assert expected <= set(by_kind), expected - set(by_kind)

    [started] = by_kind["instance_started"]
    assert (started.actor, started.data["data"]["country"], started.data["version"]) == (
        "sam",
        "NPL",
        1,
    )
    assert [(e.kind, e.actor, e.data["claimed_by"]) for e in by_kind["task_claimed"]] == [
        ("task_claimed", "sam", "sam")
    ]
    assert [(e.actor, e.data["was_claimed_by"]) for e in by_kind["task_unclaimed"]] == [
        ("sam", "sam")
    ]
    assert [(e.actor, e.data["claimed_by"]) for e in by_kind["task_assigned"]] == [("ada", "sam")]
    # Each task was completed by its lane's person, with exactly the data they submitted.
    for e in by_kind["task_completed"]:
        lane = e.data["lane"]
        assert e.actor == LANE_ACTORS[lane].username, (e.element_id, e.actor)
        assert e.data["submitted"] and isinstance(e.data["submitted"], dict)
    decisions = [e for e in by_kind["task_completed"] if e.element_id == "decide_annual_review"]
    assert [(d.actor, d.data["submitted"]["substantial_progress"]) for d in decisions] == [
        ("sam", False),
        ("sam", True),
    ]
    assert decisions[0].data["submitted"] == sample("decide_annual_review", **SHORTFALL_UNJUSTIFIED)
    assert decisions[0].at == datetime(2028, 9, 15, 9, tzinfo=UTC)  # the engine's clock
    # Automatic work has no person behind it.
    for kind in ("element_completed", "task_ready", "gateway_decision", "timer_fired"):
        assert {e.actor for e in by_kind[kind]} == {None}, kind
    assert all("from" in e.data for e in by_kind["element_completed"])
    assert {e.data["due_at"][:10] for e in by_kind["timer_fired"]} >= {"2028-09-15", "2029-09-15"}
    assert all(e.data["lane"] for e in by_kind["task_ready"])
    awards = [
        e
        for e in by_kind["status_changed"]
        if e.data["variable"] == "pathfinder_status" and e.data["new"] == "pathfinder"
    ]
    assert [(a.data["old"], a.element_id) for a in awards] == [
        ("candidate", "award_pathfinder_status")
    ]
    [suspended] = by_kind["instance_suspended"]
    assert (suspended.actor, suspended.data["reason"]) == ("sam", "Elections: ministry not staffed")
    assert [e.actor for e in by_kind["instance_resumed"]] == ["sam"]
    # The approach that opened the case, and the withdrawal that closed it.
    approach, message = by_kind["message_received"]
    assert (approach.actor, approach.data["message"]) == ("sam", "country_approach")
    assert (message.actor, message.data["message"]) == ("sam", "withdrawal")
    assert {e.element_id for e in by_kind["task_cancelled"]} >= {"record_support_to_alliance"}
    [done] = by_kind["instance_completed"]
    assert done.data["data"]["pathfinder_status"] == "withdrawn"
    # Every event carries the model version the instance ran.
    version_id = p.instance().process_version_id
    assert {e.process_version_id for e in engine.history(p.id)} == {version_id}

    [cancelled] = [e for e in engine.history(kenya.id) if e.kind == "instance_cancelled"]
    assert (cancelled.actor, cancelled.data["reason"], cancelled.country) == (
        "ada",
        "Duplicate case",
        "KEN",
    )
    with engine.session() as s:
        deployed = s.execute(select(AuditEvent).where(AuditEvent.kind == "model_deployed")).scalar()
    assert deployed is not None
    assert (deployed.chain, deployed.actor, deployed.data["process_key"]) == (
        "system",
        "owner",
        "pathfinder",
    )
    assert all(r.intact for r in engine.verify())


def test_gateway_decision_records_the_values_that_decided_it(
    engine: Engine, nepal: Pathfinder
) -> None:
    gateways = [
        e
        for e in engine.history(nepal.id)
        if e.kind == "gateway_decision" and e.element_id == "gw_substantial_progress"
    ]
    assert [(g.data["values"], g.data["chosen"]) for g in gateways] == [
        ({"substantial_progress": False}, ["gw_reasonable_justification"]),
        ({"substantial_progress": True}, ["gw_on_hold_at_good_review"]),
    ]
    # "No" is the gateway's default flow (no condition): the cautious answer.
    assert {f["condition"] for f in gateways[0].data["flows"]} == {
        "default",
        "substantial_progress == True",
    }
    [justification] = [
        e
        for e in engine.history(nepal.id)
        if e.kind == "gateway_decision" and e.element_id == "gw_reasonable_justification"
    ]
    assert justification.data["values"] == {"reasonable_justification": False}


def test_the_second_review_decision_shows_what_changed(engine: Engine, nepal: Pathfinder) -> None:
    with engine.session() as s:
        page = audit.timeline(s, nepal.id, kinds=["task_completed"], per_page=100)
    decisions = [x for x in page.items if x.event.element_id == "decide_annual_review"]
    first, second = decisions
    assert {c.path: c.change for c in first.changes}["substantial_progress"] == "added"
    assert {c.path: (c.old, c.new) for c in second.changed} == {
        "substantial_progress": (False, True)
    }
    kinds = {c.path: c.change for c in second.changes}
    assert kinds["review_date"] == kinds["reviewers"] == "same"
    assert "reasonable_justification" not in kinds  # not part of the second submission
    assert {x.version for x in page.items} == {1}


def test_status_changes_are_named_as_milestones(engine: Engine, nepal: Pathfinder) -> None:
    with engine.session() as s:
        page = audit.timeline(s, nepal.id, kinds=["status_changed"], per_page=100)
    assert [x.milestone for x in page.items if x.milestone] == ["candidate", "pathfinder awarded"]


def test_diff_of_nested_submissions() -> None:
    before = {"actions": [{"name": "Inspect", "budget": 10}], "note": "x", "untouched": 1}
    after = {"actions": [{"name": "Inspect", "budget": 12}], "note": "x", "extra": [1]}
    changes = {c.path: c.change for c in audit.diff(before, after)}
    assert changes == {
        "actions[0].name": "same",
        "actions[0].budget": "changed",
        "note": "same",
        "extra[0]": "added",
    }
    shrunk = audit.diff({"a": [1, 2]}, {"a": [1]})
    assert [(c.path, c.change) for c in shrunk] == [("a[0]", "same"), ("a[1]", "removed")]


def test_timeline_filters_and_pages(engine: Engine, nepal: Pathfinder) -> None:
    with engine.session() as s:
        everything = audit.timeline(s, nepal.id, per_page=20)
        by_gus = audit.timeline(s, nepal.id, actor="gus", per_page=100)
        by_engine = audit.timeline(s, nepal.id, actor=audit.ENGINE_ACTOR, per_page=100)
        page3 = audit.timeline(s, nepal.id, per_page=20, page=3)
    total = len(engine.history(nepal.id))
    assert everything.total == total and everything.pages == -(-total // 20)
    assert [x.event.seq for x in page3.items] == list(range(41, 61))
    assert {x.event.actor for x in by_gus.items} == {"gus"}
    # The GCG's own step; the Secretariat records the others on the GCG's behalf.
    assert {x.event.element_id for x in by_gus.items} == {"consider_country_report"}
    assert {x.event.actor for x in by_engine.items} == {None}


def test_replay_before_the_second_review_differs(engine: Engine, nepal: Pathfinder) -> None:
    events = engine.history(nepal.id)
    before = second_review_starts(events) - 1
    with engine.session() as s:
        then = audit.replay(s, nepal.id, before)
        now = audit.replay(s, nepal.id, len(events))
        offered = next(
            e.seq
            for e in events
            if e.seq > before
            and (e.kind, e.element_id) == ("task_ready", "submit_annual_progress_report")
        )
        later = audit.replay(s, nepal.id, offered)
    assert "review_anniversary_reached" in then["states"]["waiting"]
    assert "submit_annual_progress_report" not in then["states"]["active"]
    assert "submit_annual_progress_report" in later["states"]["active"]
    assert "review_anniversary_reached" in now["states"]["waiting"]  # the third anniversary
    assert then["event"]["seq"] == before and then["event"]["kind"]
    assert then["process_version_id"] == nepal.instance().process_version_id


def test_replay_drops_a_timer_cancelled_with_its_task(engine: Engine, nepal: Pathfinder) -> None:
    events = engine.history(nepal.id)
    with engine.session() as s:
        then = audit.replay(s, nepal.id, second_review_starts(events) - 1)
    assert then["states"]["waiting"] == ["review_anniversary_reached"]


def test_a_cancelled_timer_is_named_as_the_diagram_names_it(
    engine: Engine, nepal: Pathfinder
) -> None:
    """The timeline reads "Timer cancelled · <its name>", not a bare kind."""
    cancelled = [e for e in engine.history(nepal.id) if e.kind == "timer_cancelled"]
    assert cancelled, "the scenario cancels boundary timers when their task is done first"
    assert all(e.element_name and e.element_name != e.element_id for e in cancelled), [
        (e.element_id, e.element_name) for e in cancelled
    ]


def test_search_across_instances(engine: Engine, nepal: Pathfinder, clock: VirtualClock) -> None:
    kenya = engine.start("pathfinder", {"country": "KEN", "country_name": "Kenya"}, SECRETARIAT)
    reviews_2028 = audit.EventFilter(
        kinds=("task_completed",),
        since=datetime(2028, 1, 1, tzinfo=UTC),
        until=datetime(2029, 1, 1, tzinfo=UTC),
    )
    with engine.session() as s:
        found = audit.search(s, reviews_2028, per_page=100)
        assert {(e.element_id, e.at.year) for e in found.items} == {
            ("submit_annual_progress_report", 2028),
            ("prepare_annual_review", 2028),
            ("decide_annual_review", 2028),
        }
        kenya_only = audit.search(s, audit.EventFilter(country="ken"), per_page=100)
        assert {e.instance_id for e in kenya_only.items} == {kenya.id}
        by_sam = audit.search(s, audit.EventFilter(actor="sam"), per_page=5)
        assert by_sam.total > 5 and len(by_sam.items) == 5
        assert {e.actor for e in by_sam.items} == {"sam"}
        # Newest first; pages do not overlap.
        second = audit.search(s, audit.EventFilter(actor="sam"), page=2, per_page=5)
        assert by_sam.items[0].at >= by_sam.items[-1].at >= second.items[0].at
        assert not {e.id for e in by_sam.items} & {e.id for e in second.items}
        assert "KEN" in audit.choices(s)["countries"]


@pytest.mark.parametrize(
    ("flt", "index"),
    [
        (audit.EventFilter(country="NPL"), "ix_audit_events_country_at"),
        (audit.EventFilter(kinds=("gateway_decision",)), "ix_audit_events_kind_at"),
        (audit.EventFilter(actor="gus"), "ix_audit_events_actor_at"),
    ],
)
def test_searches_use_the_indexes(
    engine: Engine, nepal: Pathfinder, is_postgres: bool, flt: audit.EventFilter, index: str
) -> None:
    if is_postgres:
        pytest.skip("the plan of a tiny PostgreSQL table is a sequential scan either way")
    query = audit._query(flt).order_by(AuditEvent.at.desc())
    with engine.session() as s:
        sql = str(query.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r) for r in s.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all())
    assert index in plan, plan


def test_json_export_verifies_offline_and_a_changed_byte_is_caught(
    engine: Engine, nepal: Pathfinder, clock: VirtualClock
) -> None:
    with engine.session() as s:
        document = reports.export_document(
            s, audit.EventFilter(instance_id=nepal.id), exported_at=clock.now(), exported_by="aud"
        )
    text_ = json.dumps(document)
    [chain] = document["chains"]
    assert chain["count"] == len(chain["events"]) == len(document["matches"])
    assert chain["head"] == chain["events"][-1]["hash"] == nepal.instance().audit_head
    assert all(len(e["hash"]) == 64 for e in chain["events"])
    assert [r.intact for r in history.verify_export(json.loads(text_))] == [True]

    tampered = text_.replace('"actor": "gus"', '"actor": "gis"', 1)
    assert len(tampered) == len(text_) and tampered != text_
    [report] = history.verify_export(json.loads(tampered))
    assert not report.intact and "altered" in report.first_broken["problem"]


def test_search_export_carries_whole_chains(engine: Engine, nepal: Pathfinder) -> None:
    flt = audit.EventFilter(kinds=("gateway_decision",), actor=None)
    with engine.session() as s:
        document = reports.export_document(
            s, flt, exported_at=datetime(2030, 1, 1, tzinfo=UTC), exported_by="aud"
        )
        csv_text = reports.export_csv(s, flt)
    assert document["filter"] == {"kinds": ["gateway_decision"]}
    assert {c["chain"] for c in document["chains"]} == {f"instance:{nepal.id}"}
    assert len(document["matches"]) < document["chains"][0]["count"]
    assert all(r.intact for r in history.verify_export(document))
    lines = csv_text.strip().split("\r\n")
    assert lines[0].split(",") == list(reports.CSV_COLUMNS)
    assert len(lines) - 1 == len(document["matches"])
    head = nepal.instance().audit_head
    assert all(line.endswith(f"{head},{nepal.instance().audit_count}") for line in lines[1:])


def test_country_report(engine: Engine, nepal: Pathfinder) -> None:
    with engine.session() as s:
        [entry] = reports.country_report(s, "npl")
    assert entry["verdict"].intact and entry["verdict"].message.startswith("intact, ")
    assert [x.milestone for x in entry["milestones"]] == ["candidate", "pathfinder awarded"]
    assert len(entry["decisions"]) == entry["counts"]["task_completed"]
    assert all(x.event.data["values"] for x in entry["gateways"])
    assert len(entry["timers"]) == entry["counts"]["timer_fired"]
