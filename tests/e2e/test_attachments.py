"""A signed letter in a real browser: the focal point attaches a PDF to the expression of
interest and submits; the Secretariat sees it on the country's page and downloads it."""

from __future__ import annotations

import re
from typing import Any

from engine.people.accounts import create_user
from engine.store.db import transaction
from tests.e2e.conftest import E2E, E2E_PASSWORD, LiveServer, shot, sign_in
from tests.fixtures.documents import pdf

pytestmark = E2E

EOI = "submit_expression_of_interest"


def _fill_expression_of_interest(page: Any) -> None:
    page.fill("#f-letter_date", "2027-02-01")
    page.check("input[name=signed_by_minister][value=true]")
    page.fill("#f-minister_name", "Hon. Sarita Giri")
    page.fill("#f-ministry", "Ministry of Labour, Employment and Social Security")
    page.check("input[name=addressee][value=ilo_director_general]")
    page.fill("#f-senior_official_name", "Bishnu Adhikari")
    page.fill("#f-senior_official_email", "bishnu@gov.example.org")
    page.check("input[name=topics_covered][value=child_labour]")
    page.check("input[name=commitments][value=national_action_plan]")


def test_attach_a_pdf_to_the_expression_of_interest_and_open_it_as_the_secretariat(
    page: Any, live_server: LiveServer
) -> None:
    # A country of its own: the live server is shared and a country has one active case.
    case = live_server.make_case("NGA", EOI, name="Nigeria")
    with transaction(live_server.engine.sessions) as s:
        create_user(
            s, "ngozi", E2E_PASSWORD, ["country"], now=live_server.clock.now(), country="NGA"
        )
    [task] = [t.id for t in live_server.engine.ready_tasks(case.id) if t.element_id == EOI]
    letter = pdf(f"expression of interest, case {case.id}")

    sign_in(page, "ngozi")
    page.goto(f"/tasks/{task}")
    assert "One file: PDF (.pdf)" in page.inner_text("#f-letter_file-field")
    _fill_expression_of_interest(page)
    page.set_input_files(
        "#f-letter_file",
        files=[{"name": "EOI letter signed.pdf", "mimeType": "application/pdf", "buffer": letter}],
    )
    shot(page, "attachments-01-eoi-with-letter")
    page.click("button[value=complete]")
    page.wait_for_url(re.compile(r".*/(inbox|procedure)$"))  # an idle country sees its procedure
    assert "Done: Submit expression of interest" in page.inner_text("body")

    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    documents = page.locator("table.documents")
    assert "EOI letter signed.pdf" in documents.inner_text()
    assert "Submit expression of interest" in documents.inner_text()
    documents.scroll_into_view_if_needed()
    shot(page, "attachments-02-secretariat-sees-the-letter")
    with page.expect_download() as download_info:
        documents.locator("a", has_text="EOI letter signed.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "EOI letter signed.pdf"
    with open(download.path(), "rb") as f:
        assert f.read() == letter

    # The review task shows the letter beside the form.
    [review] = [
        t.id
        for t in live_server.engine.ready_tasks(case.id)
        if t.element_id == "review_expression_of_interest"
    ]
    page.goto(f"/tasks/{review}")
    documents = page.locator("ul.documents[aria-labelledby=documents-heading] a")
    assert documents.filter(has_text="EOI letter signed.pdf").count() == 1
    # and as part of the submission under review, in the main column
    assert page.locator(".task-main .under-review a", has_text="EOI letter signed.pdf").count() == 1
    shot(page, "attachments-03-review-task-with-the-letter")
    assert page.js_errors == []
