"""Messages to a case (issue 14, finding 4): a payload sets only the fields its model declares,
sending is a permission of the roles the model names, and the web has the same action behind a
confirmation page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask

from engine import Actor, Engine
from engine.people.tokens import create_token
from engine.store.db import transaction
from engine.store.models import Instance, User
from tests.web.conftest import Web


def _bearer(engine: Engine, username: str) -> dict[str, str]:
    with transaction(engine.sessions) as session:
        user = session.query(User).filter_by(username=username).one()
        _, token = create_token(session, user, "tests", now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


def _send(app: Flask, engine: Engine, who: str, iid: int, payload: dict) -> tuple[int, dict]:
    response = app.test_client().post(
        f"/api/v1/instances/{iid}/messages",
        json={"name": "withdrawal", "payload": payload},
        headers=_bearer(engine, who),
    )
    return response.status_code, response.get_json()


FORGED = {
    "minister_name": "forged",
    "senior_official_email": "attacker@evil.example",
    "approach_date": "1900-01-01",
}


def test_a_focal_point_cannot_send_a_withdrawal_and_nothing_changes(
    app: Flask, deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("KEN")
    before = dict(case.data)
    status, body = _send(app, deployed, "kofi", case.id, FORGED)
    assert status == 403, body
    assert "withdrawal" in body["detail"]
    after = deployed.instance(case.id)
    assert after.status == "running" and after.data == before


def test_a_payload_field_the_model_does_not_declare_is_refused_naming_it(
    app: Flask, deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("KEN")
    before = dict(case.data)
    status, body = _send(app, deployed, "sam", case.id, {"reason": "letter", **FORGED})
    assert status == 400, body
    assert "approach_date" in body["detail"]  # the first undeclared field, alphabetically
    assert "reason" in body["detail"]  # what it may carry
    after = deployed.instance(case.id)
    assert after.status == "running" and after.data == before


def test_the_secretariat_records_a_withdrawal_with_its_declared_reason(
    app: Flask, deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("KEN")
    status, body = _send(app, deployed, "sam", case.id, {"reason": "Change of government"})
    assert status == 200, body
    after = deployed.instance(case.id)
    assert after.data["pathfinder_status"] == "withdrawn"
    assert after.data["withdrawal_reason"] == "Change of government"
    assert after.data.get("minister_name") == case.data.get("minister_name")
    assert "reason" not in after.data  # the payload reaches the model only through the event


def test_the_web_records_a_withdrawal_after_a_confirmation(
    login: Callable[[str], Web], deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("KEN")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}")
    assert f"/instances/{case.id}/messages/withdrawal" in page
    confirm = web.html(f"/instances/{case.id}/messages/withdrawal")
    assert 'name="reason"' in confirm and "Withdrawal received" in confirm
    assert deployed.instance(case.id).status == "running"  # nothing happens on GET
    done = web.post(
        f"/instances/{case.id}/messages/withdrawal",
        data={"confirm": "yes", "reason": "Letter of 3 May", "minister_name": "forged"},
    )
    assert done.status_code == 302
    after = deployed.instance(case.id)
    assert after.data["withdrawal_reason"] == "Letter of 3 May"
    assert after.data.get("minister_name") != "forged"


def test_a_focal_point_sees_no_withdrawal_action_and_is_refused_the_page(
    login: Callable[[str], Web], make_case: Callable[..., Instance], users: dict[str, Actor]
) -> None:
    case = make_case("NPL")
    web = login("country")
    assert "/messages/withdrawal" not in web.html(f"/instances/{case.id}")
    assert web.get(f"/instances/{case.id}/messages/withdrawal").status_code == 403


def test_the_web_reschedules_the_gcg_meeting_after_a_confirmation(
    login: Callable[[str], Web],
    deployed: Engine,
    make_case: Callable[..., Instance],
    users: dict[str, Actor],
) -> None:
    from tests.processes.samples import sample
    from tests.web.conftest import task_of

    case = make_case("KEN", stop_at="invite_to_gcg_meeting")
    invite = task_of(deployed, case, "invite_to_gcg_meeting")
    deployed.complete(
        invite, sample("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15"), users["sam"]
    )
    web = login("secretariat")
    url = f"/instances/{case.id}/messages/gcg_meeting_rescheduled"
    assert url in web.html(f"/instances/{case.id}")
    confirm = web.html(url)
    assert 'type="date" id="field-gcg_meeting_date" name="gcg_meeting_date" required' in confirm
    assert 'name="reason"' in confirm
    assert "GCG meeting rescheduled" in confirm
    # A value the model cannot use is refused with the reason; nothing changes.
    refused = web.post(
        url, data={"confirm": "yes", "gcg_meeting_date": "next spring", "reason": "Postponed"}
    )
    assert refused.status_code == 302
    assert "not recorded" in web.html(f"/instances/{case.id}")
    assert deployed.instance(case.id).data["gcg_meeting_date"] == "2027-02-15"
    done = web.post(
        url, data={"confirm": "yes", "gcg_meeting_date": "2027-03-20", "reason": "Postponed"}
    )
    assert done.status_code == 302
    after = deployed.instance(case.id)
    assert (after.data["gcg_meeting_date"], after.status) == ("2027-03-20", "running")
    assert after.data["gcg_meeting_reschedule_reason"] == "Postponed"
    # The GCG itself is not offered the action.
    gcg = login("gcg")
    assert url not in gcg.html(f"/instances/{case.id}")


def test_the_web_closes_a_stalled_case_after_a_confirmation(
    login: Callable[[str], Web], deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("KEN")  # waiting for the expression of interest
    web = login("secretariat")
    url = f"/instances/{case.id}/messages/case_closure"
    assert url in web.html(f"/instances/{case.id}")
    confirm = web.html(url)
    assert "Closed before the award" in confirm
    assert 'type="date" id="field-letter_date"' in confirm and 'name="reason"' in confirm
    assert deployed.instance(case.id).status == "running"  # nothing happens on GET
    done = web.post(
        url, data={"confirm": "yes", "reason": "No answer since 2025", "letter_date": "2026-10-30"}
    )
    assert done.status_code == 302
    after = deployed.instance(case.id)
    assert (after.status, after.stage, after.data["pathfinder_status"]) == (
        "completed",
        "closed",
        "closed",
    )
    assert after.data["closure_letter_date"] == "2026-10-30"
    # The country's focal point is offered no such action on its own open case.
    other = make_case("KEN")
    assert f"/instances/{other.id}/messages/case_closure" not in login("kofi").html(
        f"/instances/{other.id}"
    )
