"""Stages read by the names the process declares, not by their codes."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web
from web.pages import values


def test_case_page_timeline_lists_and_dashboard_name_stages(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_workshop_report")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}")
    assert "<dt>Stage</dt><dd>Workshop</dd>" in page
    assert "stage: Expression of interest → Workshop" in page
    assert "expression_of_interest →" not in page
    assert "Report to the GCG" not in web.html("/instances")  # only stages cases are in
    assert ">Workshop</td>" in web.html("/instances")
    assert "Workshop" in web.html("/dashboard")


def test_timeline_shows_status_values_as_labels_in_the_readers_language(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_workshop_report")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}")
    assert "Pathfinder status: — → candidate" in page
    assert "pathfinder status" not in page and "→ on_hold" not in page
    web.post("/language", {"language": "fr", "next": "/inbox"})
    page = web.html(f"/instances/{case.id}")
    assert "Statut de pays pionnier : — → candidat" in page
    assert "étape : Manifestation d&#39;intérêt → Atelier" in page
    web.post("/language", {"language": "es", "next": "/inbox"})
    page = web.html(f"/instances/{case.id}")
    assert "Condición de país pionero: — → candidato" in page


def test_case_values_use_their_forms_titles_and_the_readers_formats(
    make_case: Callable[..., Instance], app: Flask, deployed: Engine
) -> None:
    case = make_case("NPL", "register_approach")
    with deployed.session() as s:
        version = s.get(Instance, case.id).process_version  # type: ignore[union-attr]
        forms, vid = dict(version.forms), version.id
    actions = [{"activity": "Labour inspections", "status": "on_track", "comment": ""}]
    for lang, shown in [
        ("en", ["<dt>Status</dt><dd>On track</dd>", "Labour inspections"]),
        ("fr", ["<dd>En bonne voie</dd>"]),
        ("es", ["<dd>Según lo previsto</dd>"]),
    ]:
        with app.test_request_context(headers={"Accept-Language": lang}):
            html = str(values.case_value(actions, "action_status", forms, vid))
            assert all(s in html for s in shown), (lang, html)
            assert "on_track" not in html
            topics = str(values.case_value(["forced_labour"], "topics_covered", forms, vid))
            assert (
                topics
                == {"en": "Forced labour", "fr": "Travail forcé", "es": "Trabajo forzoso"}[lang]
            )
            assert str(values.case_value("on_hold", "pathfinder_status", forms, vid)) != "on_hold"
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert str(values.case_value("2026-03-05", "letter_date", forms, vid)) == "5 mars 2026"
        assert str(values.case_value(1200, "no_such_field", forms, vid)) == "1200"


def test_the_procedure_history_names_the_status_in_the_readers_language(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_workshop_report")
    web = login("secretariat")
    web.post("/language", {"language": "es", "next": "/inbox"})
    page = web.html(f"/instances/{case.id}/procedure")
    assert "Condición de país pionero: <strong>candidato</strong>" in page
    assert "Tarea terminada" in web.html(f"/instances/{case.id}")  # event kinds too
