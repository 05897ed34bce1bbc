"""The approach as a message that starts the case, and who records the GCG's decisions.

The note's roles as they act: the Secretariat records the country's participation as observer
and the annual review decision on the GCG's behalf; a GCG member's account does not see them.
"""

from __future__ import annotations

import json

import pytest

from engine import Forbidden
from tests.processes.driver import FORMS, LANE_ACTORS, Pathfinder
from tests.processes.samples import sample

GCG = LANE_ACTORS["GCG"]
SECRETARIAT = LANE_ACTORS["Secretariat"]


def test_registering_an_approach_delivers_the_country_approach_message(
    pathfinder: Pathfinder,
) -> None:
    p = pathfinder
    p.start("NPL", "Nepal")
    [received] = [e for e in p.engine.history(p.id) if e.kind == "message_received"]
    assert (received.element_id, received.actor) == ("approach_received", "sam")
    assert received.data["message"] == "country_approach"
    assert received.data["payload"] == {"country": "NPL", "country_name": "Nepal"}
    # The case runs on from the approach: nothing waits for the message any more.
    assert p.offered() == {"register_approach": "Secretariat"}
    waiting = {r.name for r in p.engine.instances.message_rules(p.id, SECRETARIAT)}
    assert "country_approach" not in waiting and "withdrawal" in waiting
    assert {"approach_received", "flow_start_procedure"} <= p.reached()


def test_the_secretariat_records_the_observer_participation_on_the_gcgs_behalf(
    invited: Pathfinder,
) -> None:
    p = invited
    p.wait_until("2027-02-15")
    task = p.task("record_observer_participation")
    assert task.lane == "Secretariat"
    with pytest.raises(Forbidden):
        p.engine.complete(task.id, sample("record_observer_participation"), GCG)
    with pytest.raises(Forbidden):  # nor take it from the Secretariat's inbox
        p.engine.claim(task.id, GCG)
    p.do("record_observer_participation", actor=SECRETARIAT)
    assert p.stage() == "expression_of_interest"


def test_the_secretariat_records_the_annual_review_decision_on_the_gcgs_behalf(
    pathfinder: Pathfinder,
) -> None:
    p = pathfinder
    p.to_award()
    p.wait_until(p.variables()["next_review_at"])
    p.do("submit_annual_progress_report")
    p.do("prepare_annual_review")
    task = p.task("decide_annual_review")
    assert task.lane == "Secretariat"
    with pytest.raises(Forbidden):
        p.engine.complete(task.id, sample("decide_annual_review"), GCG)
    p.do("decide_annual_review", actor=SECRETARIAT)
    assert p.variables()["review_number"] == 2


@pytest.mark.parametrize("form", ["record_observer_participation", "decide_annual_review"])
def test_the_forms_say_they_are_recorded_on_behalf_of_the_gcg(form: str) -> None:
    schema = json.loads((FORMS / f"{form}.schema.json").read_text())
    assert "recorded on behalf of the GCG" in schema["description"]
    french = json.loads((FORMS / "i18n" / "fr" / f"{form}.json").read_text())
    assert "au nom du GCG" in french["description"]
    spanish = json.loads((FORMS / "i18n" / "es" / f"{form}.json").read_text())
    assert "en nombre del GCG" in spanish["description"]
