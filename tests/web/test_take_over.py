"""A task a colleague holds opens read-only, says who holds it since when, and can be taken over
(by the Secretariat and admins) only with a reason, which the audit trail keeps."""

from __future__ import annotations

from collections.abc import Callable

from engine import Actor, Engine
from engine.store.models import Instance
from tests.web.conftest import Web, task_of


def _held_by_sue(
    deployed: Engine, users: dict[str, Actor], make_case: Callable[..., Instance]
) -> tuple[Instance, str]:
    case = make_case("NPL", "register_approach")
    task_id = task_of(deployed, case, "register_approach")
    deployed.claim(task_id, users["sue"])
    return case, task_id


def test_a_task_held_by_a_colleague_opens_read_only_with_holder_and_since(
    deployed: Engine,
    users: dict[str, Actor],
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
) -> None:
    _, task_id = _held_by_sue(deployed, users, make_case)
    page = login("sam").html(f"/tasks/{task_id}")
    assert "sue is working on this task" in page
    assert "held it since" in page
    assert 'id="task-form"' not in page  # nothing to type into
    assert "Take over from sue" in page
    # The holder still gets the form.
    assert 'id="task-form"' in login("sue").html(f"/tasks/{task_id}")


def test_take_over_needs_a_reason_and_is_audited(
    deployed: Engine,
    users: dict[str, Actor],
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
) -> None:
    case, task_id = _held_by_sue(deployed, users, make_case)
    web = login("sam")
    web.html(f"/tasks/{task_id}")
    refused = web.post(f"/tasks/{task_id}/take-over", {"reason": "  "})
    assert refused.status_code == 422
    assert "Say why you take it over." in refused.get_data(as_text=True)
    done = web.post(f"/tasks/{task_id}/take-over", {"reason": "Sue is on leave"})
    assert done.status_code == 302
    assert 'id="task-form"' in web.html(f"/tasks/{task_id}")
    event = [e for e in deployed.history(case.id) if e.kind == "task_taken_over"]
    assert len(event) == 1 and event[0].actor == "sam"
    assert event[0].data["previous"] == "sue" and event[0].data["reason"] == "Sue is on leave"
