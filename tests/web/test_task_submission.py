"""A posted task form is one engine call: one write transaction, one permission check, one form
load, with the files stored in it (kept when the form is refused)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import Engine
from engine.bpmn import forms
from engine.runtime import task_handle, tasks
from engine.store.models import Attachment, Instance
from tests.fixtures import documents as docs
from tests.web.conftest import Web, task_of
from tests.web.test_tasks import EOI, GOOD


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many write transactions, permission checks and form loads the engine did."""
    calls = {"transactions": 0, "checks": 0, "form loads": 0}
    real_transaction = task_handle.transaction
    real_check = tasks.check_may_act
    real_load = forms.load_form

    @contextmanager
    def transaction(sessions: sessionmaker[Session], **options: Any) -> Iterator[Session]:
        calls["transactions"] += 1
        with real_transaction(sessions, **options) as s:
            yield s

    def check(*args: Any) -> None:
        calls["checks"] += 1
        real_check(*args)

    def load(*args: Any) -> Any:
        calls["form loads"] += 1
        return real_load(*args)

    monkeypatch.setattr(task_handle, "transaction", transaction)
    monkeypatch.setattr(tasks, "check_may_act", check)
    monkeypatch.setattr(forms, "load_form", load)
    return calls


def _post(web: Web, task: str, pairs: list[tuple[str, str]], **files: tuple[bytes, str]) -> Any:
    data: list[tuple[str, object]] = list(pairs)
    data += [(name, (io.BytesIO(content), filename)) for name, (content, filename) in files.items()]
    return web.post(f"/tasks/{task}", data, content_type="multipart/form-data")


def test_completing_with_a_file_is_one_transaction_one_check_one_form_load(
    deployed: Engine,
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
    counted: dict[str, int],
) -> None:
    case = make_case("NPL", EOI)
    task = task_of(deployed, case, EOI)
    web = login("country")
    web.get(f"/tasks/{task}")  # the page (and its CSRF token) first
    counted.update(transactions=0, checks=0)
    counted["form loads"] = 0
    response = _post(web, task, GOOD, letter_file=(docs.PDF, "Signed letter.pdf"))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert counted == {"transactions": 1, "checks": 1, "form loads": 1}
    with deployed.session() as s:
        [row] = s.query(Attachment).all()
        assert row.state == "attached"


def test_a_refused_form_keeps_its_upload_from_the_same_call(
    deployed: Engine,
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
    counted: dict[str, int],
) -> None:
    case = make_case("NPL", EOI)
    task = task_of(deployed, case, EOI)
    web = login("country")
    web.get(f"/tasks/{task}")
    counted["transactions"] = 0
    bad = [(k, v) for k, v in GOOD if k != "minister_name"]
    response = _post(web, task, bad, letter_file=(docs.PDF, "Signed letter.pdf"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert counted["transactions"] == 1
    with deployed.session() as s:
        [row] = s.query(Attachment).all()
        assert row.state == "uploaded"  # stored, not yet attached: the page offers it again
    assert f'value="{row.id}"' in page and "Signed letter.pdf" in page
    assert deployed.ready_tasks(case.id)[0].id == task  # nothing completed
