"""Runaway models must not stall other users (issue 14, findings 2 and 3): while timer cycles and
scripts misbehave in one thread, another client signs in, reads pages and completes a task."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from engine import Actor, Engine, ValidationFailed
from engine.store.models import Instance
from tests.engine.runtime.test_runaway_timers import RUNAWAY_CYCLES, reminders
from tests.fixtures.bpmn_files import bpmn, flow, user_task
from tests.web.conftest import Web, task_of
from tests.web.test_tasks import EOI, GOOD


class Background(threading.Thread):
    """Runs `work` in a thread, keeping its result or exception for the test."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_runaway_timer_cycles_end_in_bounded_time_while_another_client_works(
    deployed: Engine,
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
    users: dict[str, Actor],
) -> None:
    case = make_case("NPL", EOI)
    eoi = task_of(deployed, case, EOI)

    def misbehave() -> dict[str, str]:
        for cycle in RUNAWAY_CYCLES:  # written out: refused at deploy
            with pytest.raises(ValidationFailed):
                deployed.deploy({"r.bpmn": reminders(f'"{cycle}"', "runaway")}, {}, "olu")
        # computed from data, so only the run can catch them
        deployed.deploy({"r.bpmn": reminders("cycle", "runaway")}, {}, "olu")
        return {
            cycle: deployed.start("runaway", {"cycle": cycle}, users["ada"]).status
            for cycle in RUNAWAY_CYCLES
        }

    began = time.monotonic()
    worker = Background(misbehave)
    worker.start()
    web = login("country")  # signs in meanwhile
    response = web.post(f"/tasks/{eoi}", GOOD)
    assert response.status_code == 302, response.get_data(as_text=True)
    worker.join(timeout=60)
    assert not worker.is_alive() and worker.error is None, worker.error
    assert time.monotonic() - began < 60
    assert worker.result == {
        "R/PT0S": "error",  # repeats faster than PATHFINDER_MIN_TIMER_PERIOD
        "R/2000-01-01T00:00:00Z/PT1H": "running",  # caught up ten, skipped the rest
        "R/PT1S": "error",
    }
    assert deployed.instance(case.id).data["minister_name"] == "Hon. Sarita Giri"


RUNAWAY_SCRIPTS = [
    "x = len(sum([[0]*100]*5000, []))",  # one C call for ~20 s, holding the GIL
    "x = len(str([[0]*1000]*200000))",  # 650 MB
    "x = len(''.join(['x'*1000000]*1000))",  # 1 GB
    'x = len("x".ljust(10**10))',  # 10 GB
]


def scripted(index: int, script: str) -> bytes:
    return bpmn(
        f"runaway{index}",
        '<bpmn:startEvent id="start" />'
        + f'<bpmn:scriptTask id="calc" name="Calculate"><bpmn:script>{script}</bpmn:script>'
        + "</bpmn:scriptTask>"
        + user_task("check", "Check")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "calc")
        + flow("f2", "calc", "check")
        + flow("f3", "check", "end"),
    )


def test_runaway_scripts_do_not_stall_other_clients(
    deployed: Engine, login: Callable[[str], Web], users: dict[str, Actor]
) -> None:
    for index, script in enumerate(RUNAWAY_SCRIPTS):
        deployed.deploy({f"runaway{index}.bpmn": scripted(index, script)}, {}, "olu")
    web = login("secretariat")
    web.html("/inbox")

    def misbehave() -> list[Instance]:
        return [
            deployed.start(f"runaway{index}", {}, users["ada"])
            for index in range(len(RUNAWAY_SCRIPTS))
        ]

    worker = Background(misbehave)
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        for url in ("/healthz", "/inbox"):
            began = time.monotonic()
            assert web.get(url).status_code == 200
            slowest = max(slowest, time.monotonic() - began)
        time.sleep(0.1)
    assert worker.error is None, worker.error
    assert slowest < 1.0, f"a request took {slowest:.2f} s while scripts ran away"
    for inst in worker.result:
        row = deployed.instance(inst.id)
        assert row.status == "error" and row.error_element_id == "calc"
        assert "memory" in (row.error_message or "") or "longer than" in (row.error_message or "")
