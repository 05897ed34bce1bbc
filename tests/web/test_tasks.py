"""The task page: server-rendered form, inline errors that keep input, drafts, stale tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web, task_of

EOI = "submit_expression_of_interest"
GOOD = [
    ("letter_date", "2027-02-01"),
    ("signed_by_minister", "true"),
    ("minister_name", "Hon. Sarita Giri"),
    ("ministry", "Ministry of Labour"),
    ("addressee", "ilo_director_general"),
    ("senior_official_name", "Bishnu Adhikari"),
    ("senior_official_email", "bishnu@gov.example.org"),
    ("topics_covered", "forced_labour"),
    ("topics_covered", "child_labour"),
    ("commitments", "national_action_plan"),
    ("summary", "Nepal commits to a national action plan."),
    ("action", "complete"),
]


@pytest.fixture
def case(make_case: Callable[..., Instance]) -> Instance:
    return make_case("NPL", EOI)


@pytest.fixture
def eoi(deployed: Engine, case: Instance) -> str:
    return task_of(deployed, case, EOI)


def with_(pairs: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in pairs if k not in changes]
    return out + [(k, v) for k, v in changes.items() if v is not None]


def test_form_is_rendered_on_the_server_with_a_label_for_every_input(
    eoi: str, login: Callable[[str], Web]
) -> None:
    page = login("country").html(f"/tasks/{eoi}")
    assert 'type="date" name="letter_date" id="f-letter_date"' in page
    assert 'type="email" name="senior_official_email"' in page
    assert 'type="url" name="letter_url"' in page
    assert 'type="checkbox" name="topics_covered" value="forced_labour"' in page
    assert 'type="radio" name="addressee" value="ilo_director_general"' in page
    assert "ILO Director-General" in page  # choices carry the titles the form gives them
    assert "Forced Labour Convention, 1930 (No. 29)" in page and "Buenos Aires Declaration" in page
    assert '<textarea name="summary"' in page
    # every visible input has a label (for=id) or sits inside a <label>/<fieldset>
    import re

    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="(f-[^"]+)"', page)
    for ident in ids:
        if re.search(r'<label class="choice"><input[^>]*id="' + re.escape(ident), page):
            continue
        assert f'for="{ident}"' in page, ident
    assert "Country NPL" in page  # instance context beside the form


def test_validation_errors_are_inline_and_keep_everything_typed(
    deployed: Engine, eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("country")
    bad = with_(GOOD, senior_official_email="not-an-email", addressee="head_of_secretariat")
    response = web.post(f"/tasks/{eoi}", bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-senior_official_email-error"' in page and "Enter a valid email" in page
    assert 'value="not-an-email"' in page  # the wrong value stays for correction
    assert 'value="Hon. Sarita Giri"' in page
    assert 'value="forced_labour" id="f-topics_covered-1" checked' in page
    assert 'value="child_labour" id="f-topics_covered-4" checked' in page
    assert "Nepal commits to a national action plan.</textarea>" in page
    # the if/then rule (a minister's letter goes to the ILO Director-General) is checked too
    assert 'id="f-addressee-error"' in page
    assert eoi in {t.id for t in deployed.ready_tasks()}


def test_correct_submission_completes_the_task_and_hands_over_to_the_secretariat(
    deployed: Engine, case: Instance, eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("country")
    response = web.post(f"/tasks/{eoi}", GOOD)
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"
    # Nothing else waits for the country, so its inbox hands over to "Our procedure".
    inbox = web.get("/inbox")
    assert inbox.status_code == 302 and inbox.headers["Location"] == "/procedure"
    page = web.html("/procedure")
    assert "Done: Submit expression of interest" in page
    assert "with the Secretariat" in page
    data = deployed.instance(case.id).data
    assert data["topics_covered"] == ["forced_labour", "child_labour"]
    assert data["signed_by_minister"] is True
    web = login("secretariat")
    assert "Check the expression of interest" in web.html("/inbox")


def test_a_country_user_cannot_open_or_submit_another_countrys_task(
    eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("kofi")
    # Another country's task answers exactly like a missing one.
    assert web.get(f"/tasks/{eoi}").status_code == 404
    assert web.post(f"/tasks/{eoi}", GOOD).status_code == 404
    assert web.post(f"/tasks/{eoi}/claim").status_code == 404


def test_draft_survives_logout_and_comes_back(eoi: str, login: Callable[[str], Web]) -> None:
    web = login("country")
    partial = [
        ("minister_name", "Hon. Draft Minister"),
        ("topics_covered", "human_trafficking"),
        ("action", "save_draft"),
    ]
    response = web.post(f"/tasks/{eoi}", partial)
    assert response.status_code == 302
    web.logout()
    assert web.get(f"/tasks/{eoi}").status_code == 302  # signed out
    page = login("country").html(f"/tasks/{eoi}")
    assert 'value="Hon. Draft Minister"' in page
    assert 'value="human_trafficking" id="f-topics_covered-3" checked' in page
    assert "Showing your draft" in page


def test_completing_a_task_someone_else_completed_shows_a_conflict_not_an_error_page(
    deployed: Engine, case: Instance, eoi: str, login: Callable[[str], Web], users: dict
) -> None:
    web = login("country")
    version = deployed.instance(case.id).lock_version
    web.get(f"/tasks/{eoi}")
    # meanwhile an admin completes it
    deployed.complete(
        eoi,
        dict(
            GOOD[:-1],
            signed_by_minister=True,
            topics_covered=["child_labour"],
            commitments=["call_to_action"],
        ),
        users["ada"],
    )
    mine = with_(GOOD, lock_version=str(version), minister_name="My own typing")
    response = web.post(f"/tasks/{eoi}", mine)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This task changed while you were working on it" in page
    assert "no longer open" in page and "by ada" in page
    assert 'value="My own typing"' in page


def test_an_expired_instance_version_is_refused_with_the_input_kept(
    deployed: Engine, case: Instance, eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("country")
    stale = deployed.instance(case.id).lock_version - 1
    response = web.post(f"/tasks/{eoi}", with_(GOOD, lock_version=str(stale)))
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "changed since you opened the task" in page
    assert 'value="Hon. Sarita Giri"' in page
    assert eoi in {t.id for t in deployed.ready_tasks()}


def test_repeatable_rows_add_and_remove_without_javascript(
    make_case: Callable[..., Instance], deployed: Engine, login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_workshop_report")
    task = task_of(deployed, case, "submit_workshop_report")
    web = login("country")
    page = web.html(f"/tasks/{task}")
    assert (
        'name="workplan.0.priority_area"' in page and 'name="workplan.1.priority_area"' not in page
    )
    row = [
        ("workplan.0.priority_area", "Child labour"),
        ("workplan.0.budget_usd", "12x"),
        ("_extra.workplan", "1"),
    ]
    page = web.post(f"/tasks/{task}", row + [("action", "add_row:workplan")]).get_data(as_text=True)
    # The filled row and one new blank one: no second blank row appears from nowhere.
    assert 'value="Child labour"' in page and 'name="workplan.1.priority_area"' in page
    assert 'name="workplan.2.priority_area"' not in page
    assert 'value="12x"' in page  # unparsable number kept as typed
    two = row + [("workplan.1.priority_area", "Recruitment"), ("_extra.workplan", "2")]
    page = web.post(f"/tasks/{task}", two + [("action", "remove_row:workplan.0")]).get_data(
        as_text=True
    )
    assert 'value="Recruitment"' in page and 'value="Child labour"' not in page
    response = web.post(f"/tasks/{task}", row + [("action", "complete")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert (
        'id="f-workplan-0-budget_usd-error"' in page and 'id="f-workplan-0-outcome-error"' in page
    )
    # After the error the filled row is shown alone, without an empty "Action 2" under it.
    assert "Action 1" in page and "Action 2" not in page
    blank = [("workplan.0.priority_area", ""), ("_extra.workplan", "1"), ("action", "complete")]
    page = web.post(f"/tasks/{task}", blank).get_data(as_text=True)
    assert 'name="workplan.0.priority_area"' in page  # a blank row left blank stays


def test_claim_release_and_assign_to_a_colleague(
    make_case: Callable[..., Instance], deployed: Engine, login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "review_expression_of_interest")
    task = task_of(deployed, case, "review_expression_of_interest")
    web = login("secretariat")
    assert web.post(f"/tasks/{task}/claim").status_code == 302
    assert "Release this task" in web.html(f"/tasks/{task}")
    assert web.post(f"/tasks/{task}/claim", {"assignee": "sue"}).status_code == 302
    page = web.html("/inbox")
    assert "sue" in page
    assert 'option value="sue" selected' in web.html(f"/tasks/{task}")
    assert web.post(f"/tasks/{task}/unclaim").status_code == 302
    assert "nobody" in web.html(f"/tasks/{task}")
    web = login("gcg")
    assert web.post(f"/tasks/{task}/claim", {"assignee": "gus"}).status_code == 403


def test_sending_back_requires_comments_then_returns_the_form_to_the_country_filled_in(
    make_case: Callable[..., Instance], deployed: Engine, login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "review_expression_of_interest")
    task = task_of(deployed, case, "review_expression_of_interest")
    web = login("secretariat")
    response = web.post(f"/tasks/{task}", [("eoi_decision", "sent_back"), ("action", "complete")])
    assert response.status_code == 422
    assert 'id="f-eoi_review_comments-error"' in response.get_data(as_text=True)
    response = web.post(
        f"/tasks/{task}",
        [
            ("eoi_decision", "sent_back"),
            ("eoi_review_comments", "Add trafficking."),
            ("action", "complete"),
        ],
    )
    assert response.status_code == 302
    again = task_of(deployed, case, EOI)
    page = login("country").html(f"/tasks/{again}")
    assert "Add trafficking." in page  # the Secretariat's comments are in the earlier submissions
    assert 'name="minister_name" id="f-minister_name" value="Hon. ' in page  # prefilled


def test_a_completed_task_page_says_so(
    deployed: Engine, eoi: str, login: Callable[[str], Web]
) -> None:
    web = login("country")
    assert web.post(f"/tasks/{eoi}", GOOD).status_code == 302
    page = web.html(f"/tasks/{eoi}")
    assert "This task is no longer open" in page and 'value="complete"' not in page
