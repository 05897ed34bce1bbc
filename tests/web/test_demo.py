"""The demo seed: users for every role, countries at different stages, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from engine import Engine, Settings
from engine.demo import DEMO_USERS, seed
from engine.people.access import ROLES
from engine.records import submissions
from engine.store.models import Instance, User

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_seed_creates_users_and_cases_once(deployed: Engine, settings: Settings) -> None:
    lines = list(seed(settings, now=NOW))
    assert any("Nepal (NPL)" in line for line in lines)
    assert not any("could not" in line for line in lines), lines
    with deployed.session() as s:
        users = {u.username: u for u in s.query(User)}
        cases = {i.country: i for i in s.query(Instance)}
    assert {r for u in users.values() for r in u.roles} == set(ROLES)
    assert {name for name, *_ in DEMO_USERS} <= set(users)
    assert cases["NPL"].data["pathfinder_status"] == "pathfinder"
    assert cases["NPL"].data["review_number"] >= 2  # years into its reviews
    assert cases["TUN"].data["pathfinder_status"] == "on_hold"
    assert cases["TUN"].data["hold_confirmed"] is True
    # The new paths of the second edition, each shown once:
    uga = cases["UGA"].data  # never reported: reviewed anyway, the GCG is asked about a hold
    assert uga["last_missing_report_review"] == 2 and uga["consecutive_unjustified_reviews"] == 2
    assert "decide_on_hold" in {t.element_id for t in deployed.ready_tasks(cases["UGA"].id)}
    mdg = cases["MDG"].data  # the GCG did not confirm the hold
    assert (mdg["hold_confirmed"], mdg["pathfinder_status"]) == (False, "pathfinder")
    npl = cases["NPL"].data  # a revised workplan accepted at the second review
    npl_workplan = npl["workplan_in_force"]
    assert npl_workplan["version"] == 2 and npl_workplan["actions"][0]["target_value"] == 17.5
    assert cases["TUN"].data["workplan_in_force"]["version"] == 1  # its proposal was refused
    # The reports after the revision give the revised workplan's rows (its new target).
    with deployed.session() as s:
        reports = submissions.listing(s, cases["NPL"].id, "submit_annual_progress_report")
    assert reports[-1].data["indicator_values"][0]["target"] == 17.5
    assert reports[0].data["indicator_values"][0]["target"] == 18.8
    assert len(reports[-1].data["indicator_values"]) == len(npl_workplan["actions"])
    # Every case began with the country's approach (the message start), and the Secretariat
    # recorded the observer participation and each annual review decision on the GCG's behalf.
    history = deployed.history(cases["NPL"].id)
    [approach] = [e for e in history if e.kind == "message_received" and e.element_id]
    assert (approach.element_id, approach.data["message"]) == (
        "approach_received",
        "country_approach",
    )
    recorded_by = {
        users[e.actor].roles[0]
        for e in history
        if e.kind == "task_completed"
        and e.element_id in ("record_observer_participation", "decide_annual_review")
    }
    assert recorded_by == {"secretariat"}
    mwi = cases["MWI"].data  # put on hold, documented nothing; the next good review reinstated
    assert (mwi["pathfinder_status"], mwi["reinstated_by"]) == ("pathfinder", "annual_review")
    assert "document_progress" not in {t.element_id for t in deployed.ready_tasks(cases["MWI"].id)}
    arg = cases["ARG"]  # stalled before the award, closed by the Secretariat
    assert (arg.status, arg.stage, arg.data["closure_reason"][:13]) == (
        "completed",
        "closed",
        "No workshop r",
    )
    chl = cases["CHL"].data  # the GCG meeting was postponed
    assert chl["gcg_meeting_date"] > chl["previous_gcg_meeting_date"]
    assert cases["VNM"].stage == "gcg_report"
    assert cases["NPL"].created_at.year == 2021
    assert cases["KEN"].stage == "expression_of_interest"
    # Côte d'Ivoire and Tunisia work in French, Peru in Spanish; the others follow their browser.
    assert {u: users[u].locale for u in ("fp.civ", "fp.tun", "fp.per", "fp.npl", "admin")} == {
        "fp.civ": "fr",
        "fp.tun": "fr",
        "fp.per": "es",
        "fp.npl": None,
        "admin": None,
    }
    assert list(seed(settings, now=NOW)) == []  # nothing new the second time
