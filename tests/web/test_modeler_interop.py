"""Every file of the interop corpus (../shared/interop) uploaded through the Models area, with
the outcome its README describes: deployed and startable, stored for viewing only with the
reason, or refused with problems (and nothing stored)."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import Actor, Engine
from engine.store.models import Instance, ProcessVersion
from tests.conftest import SHARED
from tests.web.conftest import Web
from tests.web.test_modeler import app  # noqa: F401 - the app with the Models area

INTEROP = SHARED / "interop"
ADMIN = Actor("ada", ["admin"])

STARTABLE = {
    "spiffworkflow/lanes.bpmn": {},
    "spiffworkflow/timer.bpmn": {},
    "spiffworkflow/transaction.bpmn": {},
    "spiffworkflow/boundary_timer_on_task.bpmn": {},
    "spiffworkflow/event-gateway.bpmn": {},
    "spiffworkflow/inclusive_gateway.bpmn": {},
    "spiffworkflow/standard_loop.bpmn": {"done": True},
    "spiffworkflow/spiff-ext/signal_event_payload.bpmn": {},
    "sample-process-models/manual_task_with_timer.bpmn": {},
    "example-process-models/timer-events.bpmn": {},
    "camunda/invoice/reviewInvoice.bpmn": {},
}
"""Deployed and can be started (with this start data)."""

VIEW_ONLY = {
    "miwg/A.1.0.bpmn": "not executable",
    "miwg/B.1.0.bpmn": "not executable",
    "miwg/C.1.0.bpmn": "not executable",
    "miwg/C.9.1.bpmn": "python expression",
    "spiffworkflow/call_activity_nested/call_activity_level_3.bpmn": "without end",
    "spiffworkflow/invalid/non-executable-process.bpmn": "not executable",
    "camunda/StartTimerEventTest.testCycleWithLimitStartTimerEvent.bpmn20.xml": "quoted",
    "camunda/order-handling.bpmn": "cron",
    "bpmn-js/kitchen-sink.bpmn": "",
    "bpmn-js/error-di-plane-no-bpmn-element.bpmn": "not executable",
}
"""Stored, shown, but starting is refused; the reason contains this text (lower case)."""

REFUSED = {
    "sample-process-models/testing-sec-test.bpmn": "hostile-xml",
    "example-process-models/my_vacation.bpmn": "missing-form",  # its forms are not in the corpus
    "example-process-models/sub-processes/handle-payment.bpmn": "missing-form",
    "example-process-models/sub-processes/food-ordering-process.bpmn": "missing-called-process",
    "spiff-example-cli/tutorial/product_prices.dmn": "no-process",
    "spiff-example-cli/tutorial/shipping_costs.dmn": "no-process",
    "spiff-example-cli/tutorial/lanes.bpmn": "missing-decision",
    # R2/PT0.1S repeats faster than PATHFINDER_MIN_TIMER_PERIOD (issue 14)
    "spiffworkflow/timer-cycle.bpmn": "timer-cycle",
}
"""Refused with a problem of this code; nothing is stored."""

TOGETHER = {
    "food-ordering+handle-payment": (
        [
            "example-process-models/sub-processes/food-ordering-process.bpmn",
            "example-process-models/sub-processes/handle-payment.bpmn",
        ],
        "missing-form",  # the call resolves; the SpiffArena forms are not in the corpus
    ),
    "tutorial-lanes+decisions": (
        [
            "spiff-example-cli/tutorial/lanes.bpmn",
            "spiff-example-cli/tutorial/product_prices.dmn",
            "spiff-example-cli/tutorial/shipping_costs.dmn",
        ],
        "missing-form",
    ),
}

pytestmark = pytest.mark.skipif(not INTEROP.is_dir(), reason="../shared/interop is absent")


def _manifest() -> list[str]:
    if not INTEROP.is_dir():
        return []
    lines = (INTEROP / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


def test_every_corpus_file_has_an_expected_outcome() -> None:
    assert sorted(_manifest()) == sorted({**STARTABLE, **VIEW_ONLY, **REFUSED})


def upload(web: Web, paths: list[str]) -> tuple[int, str]:
    if web.token is None:
        web.get("/modeler/upload")
    files = [(BytesIO((INTEROP / p).read_bytes()), Path(p).name) for p in paths]
    response = web.client.post(
        "/modeler/upload",
        data={"csrf_token": web.token, "files": files},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def _stored(engine: Engine) -> list[ProcessVersion]:
    with engine.session() as s:
        return list(
            s.execute(
                select(ProcessVersion).where(ProcessVersion.process_key != "pathfinder")
            ).scalars()
        )


@pytest.mark.parametrize("path", sorted(STARTABLE))
def test_executable_files_deploy_and_start(
    login: Callable[[str], Web], deployed: Engine, path: str
) -> None:
    status, page = upload(login("process_owner"), [path])
    assert status == 200, page
    assert 'data-outcome="deployed"' in page and 'data-executable="yes"' in page
    versions = _stored(deployed)
    assert versions and all(v.executable for v in versions)
    instance = deployed.start(versions[0].process_key, STARTABLE[path], ADMIN)
    assert deployed.instance(instance.id).status in ("running", "completed")


@pytest.mark.parametrize("path", sorted(VIEW_ONLY))
def test_files_the_engine_cannot_run_are_stored_for_viewing(
    login: Callable[[str], Web], deployed: Engine, path: str
) -> None:
    status, page = upload(login("process_owner"), [path])
    assert status == 200, page
    assert 'data-outcome="deployed"' in page and 'data-executable="no"' in page
    assert "stored for viewing only" in page
    versions = _stored(deployed)
    assert versions and not any(v.executable for v in versions)
    reasons = " ".join(v.not_executable_reason or "" for v in versions).lower()
    assert VIEW_ONLY[path] in reasons
    with pytest.raises(Exception, match="cannot be started"):
        deployed.start(versions[0].process_key, {}, ADMIN)


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_broken_or_hostile_files_are_refused_without_storing(
    login: Callable[[str], Web], deployed: Engine, path: str
) -> None:
    status, page = upload(login("process_owner"), [path])
    assert status == 422, page
    assert 'data-outcome="refused"' in page
    assert f'data-code="{REFUSED[path]}"' in page
    assert _stored(deployed) == []
    with deployed.session() as s:
        assert s.execute(select(func.count(Instance.id))).scalar_one() == 0


@pytest.mark.parametrize("name", sorted(TOGETHER))
def test_companion_files_uploaded_together(
    login: Callable[[str], Web], deployed: Engine, name: str
) -> None:
    paths, code = TOGETHER[name]
    status, page = upload(login("process_owner"), paths)
    assert status == 422, page
    assert f'data-code="{code}"' in page
    assert 'data-code="missing-called-process"' not in page
    assert 'data-code="missing-decision"' not in page
    assert _stored(deployed) == []
