"""Who may open what: every page route against every role (200 / 403 / sign-in redirect)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web, task_of, user_row

ALL = {"admin", "process_owner", "secretariat", "chair", "gcg", "country", "auditor"}
STAFF = ALL - {"country"}
ROUTES: list[tuple[str, set[str]]] = [
    ("/inbox", ALL),
    ("/instances", ALL),
    ("/instances/{case}", ALL),
    ("/instances/{case}/diagram.bpmn", ALL),
    ("/instances/{other}", STAFF),
    ("/instances/new", {"admin", "process_owner", "secretariat"}),
    ("/instances/{case}/suspend", {"admin", "secretariat"}),
    ("/instances/{case}/cancel", {"admin", "secretariat"}),
    ("/tasks/{country_task}", {"admin", "country"}),
    ("/tasks/{secretariat_task}", {"admin", "secretariat"}),
    ("/dashboard", STAFF),
    ("/admin/users", {"admin"}),
    ("/admin/users/new", {"admin"}),
    ("/admin/users/{user}", {"admin"}),
    ("/admin/users/{user}/password", {"admin"}),
    ("/admin/users/{user}/deactivate", {"admin"}),
    ("/admin/processes", {"admin", "process_owner"}),
    ("/admin/processes/pathfinder/lanes", {"admin", "process_owner"}),
]
PUBLIC = [
    "/login",
    "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js",
    "/vendor/bpmn-js/assets/bpmn-js.css",
    "/static/app.css",
]


@pytest.fixture
def urls(deployed: Engine, make_case: Callable[..., Instance]) -> dict[str, str]:
    case = make_case("NPL", "submit_expression_of_interest")
    other = make_case("KEN", "review_expression_of_interest")
    return {
        "case": str(case.id),
        "other": str(other.id),
        "country_task": task_of(deployed, case, "submit_expression_of_interest"),
        "secretariat_task": task_of(deployed, other, "review_expression_of_interest"),
        "user": str(user_row(deployed, "gus").id),
    }


@pytest.mark.parametrize("role", sorted(ALL))
def test_each_role_sees_what_it_should_and_is_refused_the_rest(
    role: str, urls: dict[str, str], login: Callable[[str], Web]
) -> None:
    web = login(role)
    wrong = []
    for template, allowed in ROUTES:
        url = template.format(**urls)
        status = web.get(url).status_code
        expected = 200 if role in allowed else 403
        if role == "country" and ("{other}" in template or "{secretariat_task}" in template):
            expected = 404  # another country's case answers exactly like a missing one
        if status != expected:
            wrong.append((url, status, expected))
    assert wrong == []


def test_anonymous_visitors_are_sent_to_sign_in(urls: dict[str, str], web: Web) -> None:
    for template, _ in ROUTES:
        url = template.format(**urls)
        response = web.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url


def test_public_assets_and_sign_in_page_need_no_account(web: Web) -> None:
    for url in PUBLIC:
        assert web.get(url).status_code == 200, url


def test_vendor_route_refuses_paths_outside_bpmn_js(web: Web) -> None:
    assert web.get("/vendor/bpmn-js/../package.json").status_code == 404
    assert web.get("/vendor/bpmn-js/%2e%2e/%2e%2e/package.json").status_code == 404
    assert web.get("/vendor/bpmn-js/assets/../../package.json").status_code == 404


def test_error_pages_use_the_layout_and_show_no_trace(
    urls: dict[str, str], login: Callable[[str], Web]
) -> None:
    web = login("gcg")
    page = web.html(f"/tasks/{urls['country_task']}", 403)
    assert "Not allowed" in page and "Skip to main content" in page and "Traceback" not in page
    page = web.html("/tasks/no-such-task", 404)
    assert "does not exist" in page
    page = web.html("/instances/99999", 404)
    assert "Error 404" in page


def test_unexpected_errors_show_a_500_page_without_a_trace(
    app, login: Callable[[str], Web], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.runtime.instance_handle import Instances

    app.config["PROPAGATE_EXCEPTIONS"] = False
    web = login("admin")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Instances, "dashboard", boom)
    page = web.html("/dashboard", 500)
    assert "Something went wrong" in page and "secret internals" not in page
