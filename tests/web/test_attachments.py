"""Attachments on the pages: the upload control, uploads kept when the form is refused, refused
files with the input kept, downloads by role, the lists, and the integrity check."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from engine import Engine
from engine.records.file_store import LocalStore
from engine.store.models import Attachment, Instance
from tests.fixtures import documents as docs
from tests.web.conftest import Web, task_of
from tests.web.test_tasks import EOI, GOOD

UUID = re.compile(r'name="letter_file" value="([0-9a-f-]{36})"')


@pytest.fixture
def case(make_case: Callable[..., Instance]) -> Instance:
    return make_case("NPL", EOI)


@pytest.fixture
def eoi(deployed: Engine, case: Instance) -> str:
    return task_of(deployed, case, EOI)


def _post(web: Web, task: str, pairs: list[tuple[str, str]], **files: tuple[bytes, str]) -> str:
    data: list[tuple[str, object]] = list(pairs)
    data += [(name, (io.BytesIO(content), filename)) for name, (content, filename) in files.items()]
    response = web.post(f"/tasks/{task}", data, content_type="multipart/form-data")
    return f"{response.status_code} {response.get_data(as_text=True)}"


def _attachments(engine: Engine) -> list[Attachment]:
    with engine.session() as s:
        return list(s.query(Attachment).order_by(Attachment.uploaded_at))


@pytest.fixture
def submitted(deployed: Engine, eoi: str, login: Callable[[str], Web]) -> Attachment:
    """The expression of interest completed with a signed letter, by the Nepal focal point."""
    result = _post(login("country"), eoi, GOOD, letter_file=(docs.PDF, "Signed letter.pdf"))
    assert result.startswith("302"), result[:2000]
    [row] = _attachments(deployed)
    return row


def test_the_file_field_says_what_it_takes_and_posts_multipart(
    eoi: str, login: Callable[[str], Web]
) -> None:
    page = login("country").html(f"/tasks/{eoi}")
    assert 'enctype="multipart/form-data"' in page
    assert re.search(
        r'<input type="file" name="letter_file" id="f-letter_file" accept="[^"]*\.pdf', page
    )
    assert "One file: PDF (.pdf), Word (.docx)" in page and "at most 20.0 MB" in page


def test_upload_and_complete_then_listed_and_recorded(
    deployed: Engine, case: Instance, submitted: Attachment, login: Callable[[str], Web]
) -> None:
    assert submitted.state == "attached" and submitted.filename == "Signed letter.pdf"
    assert submitted.uploaded_by == "nima" and submitted.size == len(docs.PDF)
    page = login("secretariat").html(f"/instances/{case.id}")
    assert f'href="/attachments/{submitted.id}"' in page and "Signed letter.pdf" in page
    assert submitted.sha256[:12] in page
    review = task_of(deployed, case, "review_expression_of_interest")
    task_page = login("secretariat").html(f"/tasks/{review}")
    assert f'href="/attachments/{submitted.id}"' in task_page  # beside the review task


@pytest.mark.parametrize("who", ["country", "secretariat", "chair", "gcg", "auditor", "admin"])
def test_download_by_each_role_that_may_see_the_country(
    submitted: Attachment, login: Callable[[str], Web], who: str
) -> None:
    response = login(who).get(f"/attachments/{submitted.id}")
    assert response.status_code == 200
    assert response.data == docs.PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "Signed" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_another_country_and_strangers_are_refused_the_document(
    submitted: Attachment, app: Flask, login: Callable[[str], Web]
) -> None:
    anonymous = Web(app.test_client()).get(f"/attachments/{submitted.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    other = login("kofi").get(f"/attachments/{submitted.id}")
    assert other.status_code == 404 and docs.PDF not in other.data


def test_upload_is_kept_when_another_field_is_wrong(
    deployed: Engine, eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("country")
    pairs = [(k, v) for k, v in GOOD if k != "minister_name"]
    result = _post(web, eoi, pairs, letter_file=(docs.PDF, "letter.pdf"))
    assert result.startswith("422")
    assert "Already uploaded:" in result and "letter.pdf" in result
    [row] = _attachments(deployed)
    assert UUID.search(result).group(1) == row.id  # type: ignore[union-attr]
    # The second submission sends only the hidden id back: no second upload.
    result = _post(
        web, eoi, [*pairs, ("minister_name", "Hon. Sarita Giri"), ("letter_file", row.id)]
    )
    assert result.startswith("302"), result[:2000]
    [row] = _attachments(deployed)
    assert row.state == "attached"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (docs.office("xlsx"), "budget.xlsx", "is a Excel file; this field takes PDF"),
        (docs.EXE, "letter.pdf", "is not a document Pathfinder accepts"),
        (docs.PDF + b" " * int(1.5 * 1024 * 1024), "big.pdf", "files may be at most 1.0 MB"),
    ],
)
def test_wrong_type_and_oversize_are_refused_with_the_input_kept(
    deployed: Engine,
    eoi: str,
    login: Callable[[str], Web],
    content: bytes,
    name: str,
    message: str,
) -> None:
    deployed.settings = dataclasses.replace(deployed.settings, max_upload_mb=1)
    result = _post(login("country"), eoi, GOOD, letter_file=(content, name))
    assert result.startswith("422")
    assert message in result
    assert 'id="f-letter_file-error"' in result and 'href="#f-letter_file"' in result
    assert 'value="Hon. Sarita Giri"' in result and 'value="bishnu@gov.example.org"' in result
    assert _attachments(deployed) == []
    assert deployed.ready_tasks()  # nothing was completed


def test_altered_file_is_reported_by_the_integrity_pages(
    deployed: Engine, case: Instance, submitted: Attachment, login: Callable[[str], Web]
) -> None:
    web = login("auditor")
    assert "every attached document matches" in web.html(f"/audit/instances/{case.id}/verify")
    store = deployed.files
    assert isinstance(store, LocalStore)
    path: Path = store.path(submitted.sha256)
    path.write_bytes(docs.pdf("forged"))
    page = web.html(f"/audit/instances/{case.id}/verify")
    assert "1 attached document changed or missing" in page
    assert "Signed letter.pdf" in page and "was changed on disk" in page
    body = web.get(f"/audit/instances/{case.id}/verify?format=json").json
    assert body is not None and body["intact"] is False
    assert body["files"][0]["attachment_id"] == submitted.id
    everything = web.html("/audit/verify")
    assert f"instance:{case.id}: event #" in everything and "Signed letter.pdf" in everything
