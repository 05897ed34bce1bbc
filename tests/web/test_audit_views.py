"""The audit pages as an auditor uses them: an instance's history (timeline, changes, gateway
values, timers, milestones, filters, pages), the replay endpoint, Verify integrity, search with
its exports, the printable country report and the model versions."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

import pytest
from flask import Flask

from engine import Actor, Engine, VirtualClock
from engine.records import history
from tests.engine.records.test_audit import (
    country_with_two_reviews,
    second_review_offered,
    second_review_starts,
)
from tests.processes.driver import Pathfinder
from tests.web.conftest import Web
from web.pages import audit as audit_views


@pytest.fixture
def audit_app(app: Flask) -> Flask:
    if "audit" not in app.blueprints:
        app.register_blueprint(audit_views.bp)
    return app


@pytest.fixture
def nepal(deployed: Engine, clock: VirtualClock, users: dict[str, Actor]) -> Pathfinder:
    return country_with_two_reviews(deployed, clock, deploy=False)


@pytest.fixture
def auditor(audit_app: Flask, login: Callable[[str], Web]) -> Web:
    return login("aud")


def _events(page: str) -> list[tuple[int, str]]:
    return [(int(s), k) for s, k in re.findall(r'data-seq="(\d+)" data-kind="(\w+)"', page)]


def test_history_shows_who_did_what_with_changes_decisions_and_timers(
    auditor: Web, nepal: Pathfinder
) -> None:
    page = auditor.html(f"/audit/instances/{nepal.id}")
    shown = _events(page)
    assert [s for s, _ in shown] == list(range(1, 51))  # the first page of 50
    assert "model v1" in page and "UTC" in page and "by sam" in page

    decisions = auditor.html(f"/audit/instances/{nepal.id}?kind=task_completed&actor=sam")
    assert {k for _, k in _events(decisions)} == {"task_completed"}
    second = decisions.rsplit('data-kind="task_completed"', 1)[1]
    assert "<strong>Decide the annual review</strong>" in second and "by sam" in second
    # The second review's decision shows the one value that changed, old and new.
    row = re.search(
        r'<tr class="c-changed"><td class="path">substantial_progress</td>(.*?)</tr>', second
    )
    assert row and re.findall(r'<td class="(?:old|new)">(\w+)</td>', row.group(0)) == ["no", "yes"]

    gateways = auditor.html(f"/audit/instances/{nepal.id}?kind=gateway_decision&page=1")
    assert "<code>substantial_progress = false</code>" in gateways
    assert "<code>reasonable_justification = false</code>" in gateways
    assert 'class="chosen"' in gateways

    timers = auditor.html(f"/audit/instances/{nepal.id}?kind=timer_fired")
    assert timers.count('data-kind="timer_fired"') >= 3
    assert "it was due 2028-09-15 00:00 UTC" in timers

    status = auditor.html(f"/audit/instances/{nepal.id}?kind=status_changed")
    assert 'class="milestone-badge m-pathfinder-awarded">pathfinder awarded<' in status
    assert 'class="k-status_changed milestone"' in status


def test_long_timelines_are_paginated(auditor: Web, nepal: Pathfinder, deployed: Engine) -> None:
    total = len(deployed.history(nepal.id))
    last_page = -(-total // 50)
    page = auditor.html(f"/audit/instances/{nepal.id}?page={last_page}")
    assert [s for s, _ in _events(page)] == list(range((last_page - 1) * 50 + 1, total + 1))
    assert f"Page {last_page} of {last_page}" in page and 'rel="prev"' in page


def test_replay_endpoint_gives_the_diagram_after_any_event(
    auditor: Web, nepal: Pathfinder, deployed: Engine
) -> None:
    events = deployed.history(nepal.id)
    before, offered = second_review_starts(events) - 1, second_review_offered(events)
    then = auditor.get(f"/audit/instances/{nepal.id}/states?seq={before}").json
    after = auditor.get(f"/audit/instances/{nepal.id}/states?seq={offered}").json
    assert then["seq"] == before and then["event"]["seq"] == before
    assert "review_anniversary_reached" in then["states"]["waiting"]
    assert "submit_annual_progress_report" in after["states"]["active"]
    assert then["states"] != after["states"]
    assert then["process_version_id"] == nepal.instance().process_version_id
    clamped = auditor.get(f"/audit/instances/{nepal.id}/states?seq=99999").json
    assert clamped["seq"] == nepal.instance().audit_count


def test_verify_integrity_says_intact(auditor: Web, nepal: Pathfinder) -> None:
    count = nepal.instance().audit_count
    answer = auditor.get(
        f"/audit/instances/{nepal.id}/verify", headers={"Accept": "application/json"}
    )
    assert answer.json["intact"] is True and answer.json["message"] == f"intact, {count} events"
    page = auditor.html(f"/audit/instances/{nepal.id}/verify")
    assert f"intact, {count} events" in page and 'data-intact="1"' in page


def test_the_chain_head_is_shown_where_an_auditor_compares_it(
    auditor: Web, nepal: Pathfinder
) -> None:
    head = nepal.instance().audit_head
    assert head
    assert f'title="{head}">{head[:16]}…' in auditor.html(f"/audit/instances/{nepal.id}")
    assert f'<span class="hash">{head}</span>' in auditor.html(
        f"/audit/instances/{nepal.id}/verify"
    )
    assert f'chain head <span class="hash">{head}</span>' in auditor.html("/audit/countries/NPL")


def test_exports_of_one_instance(auditor: Web, nepal: Pathfinder, tmp_path) -> None:
    response = auditor.get(f"/audit/instances/{nepal.id}/export.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    document = json.loads(response.data)
    assert [r.intact for r in history.verify_export(document)] == [True]
    assert document["exported_by"] == "aud" and document["chains"][0]["count"] == len(
        document["matches"]
    )

    rows = list(
        csv.DictReader(io.StringIO(auditor.get(f"/audit/instances/{nepal.id}/export.csv").text))
    )
    assert len(rows) == nepal.instance().audit_count
    assert {r["chain_head"] for r in rows} == {nepal.instance().audit_head}
    assert all(len(r["hash"]) == 64 for r in rows)
    assert rows[0]["kind"] == "instance_started" and rows[0]["actor"] == "sam"


def test_search_across_countries_and_export(
    auditor: Web, nepal: Pathfinder, deployed: Engine, users: dict[str, Actor]
) -> None:
    deployed.start("pathfinder", {"country": "KEN", "country_name": "Kenya"}, users["sam"])
    page = auditor.html("/audit?kind=task_completed&since=2028-01-01&until=2028-12-31")
    assert page.count("<tr>") - 1 == 3  # the three steps of the 2028 review
    assert "Kenya" not in page
    kenya = auditor.html("/audit?country=KEN")
    assert "Kenya" in kenya and "Nepal" not in kenya
    by_gus = auditor.html("/audit?actor=gus").split("<tbody>")[1]
    assert re.findall(r'<td data-label="Actor">(\w+)</td>', by_gus) == ["gus"] * by_gus.count(
        "<tr>"
    )

    bad = auditor.get("/audit?since=2028-13-01")
    assert bad.status_code == 422 and "Enter a date as YYYY-MM-DD." in bad.text

    exported = auditor.get("/audit/export.json?kind=gateway_decision&country=NPL").json
    assert exported["filter"] == {"country": "NPL", "kinds": ["gateway_decision"]}
    assert all(r.intact for r in history.verify_export(exported))
    lines = auditor.get("/audit/export.csv?kind=gateway_decision&country=NPL").text.splitlines()
    assert len(lines) - 1 == len(exported["matches"]) > 10


def test_printable_country_report(auditor: Web, nepal: Pathfinder) -> None:
    page = auditor.html("/audit/countries/NPL")
    assert "audit/audit.css" in page  # carries the print stylesheet
    assert "Integrity: intact," in page
    assert "pathfinder awarded" in page
    assert "<code>substantial_progress = false</code>" in page
    # each step's submission, read-only from its own form (labels, readable dates)
    assert "<h3>Submissions</h3>" in page and 'id="submission-' in page
    assert "Send confirmation letter awarding pathfinder status" in page and "Sep 15, 2027" in page
    assert auditor.get("/audit/countries/XYZ").status_code == 404


def test_versions_and_their_diagrams(auditor: Web, nepal: Pathfinder) -> None:
    page = auditor.html("/audit/versions")
    version_id = nepal.instance().process_version_id
    assert f"/audit/versions/{version_id}/diagram.bpmn" in page
    xml = auditor.get(f"/audit/versions/{version_id}/diagram.bpmn")
    assert xml.mimetype == "text/plain" and b"review_anniversary_reached" in xml.data


def test_country_users_see_only_their_own_history(
    audit_app: Flask, login: Callable[[str], Web], nepal: Pathfinder, deployed: Engine, users
) -> None:
    kenya = deployed.start("pathfinder", {"country": "KEN", "country_name": "Kenya"}, users["sam"])
    nima = login("nima")
    assert nima.get(f"/audit/instances/{nepal.id}").status_code == 200
    assert nima.get(f"/audit/instances/{kenya.id}").status_code == 404
    assert nima.get(f"/audit/instances/{kenya.id}/export.json").status_code == 404
    assert nima.get("/audit").status_code == 403
    assert nima.get("/audit/countries/NPL").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(audit_app: Flask, nepal: Pathfinder) -> None:
    client = audit_app.test_client()
    for url in (f"/audit/instances/{nepal.id}", "/audit", f"/audit/instances/{nepal.id}/states"):
        assert client.get(url).status_code == 302, url
