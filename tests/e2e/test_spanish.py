"""Peru's focal point works in Spanish: the expression of interest in a real browser (labels,
choice titles, a validation error, the confirmation, dates), then the e-mail the Secretariat's
request for changes sends her, in Spanish too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.dates import format_date
from sqlalchemy import select

from engine.people.accounts import create_user
from engine.store.db import transaction
from engine.store.models import OutboxMessage, User
from tests.e2e.conftest import E2E, E2E_PASSWORD, LiveServer, running_server, shot

pytestmark = E2E


def test_peru_completes_the_expression_of_interest_in_spanish(browser: Any, tmp_path: Path) -> None:
    # A server of its own: another e2e test may have opened a case for Peru on the shared one.
    with running_server(tmp_path) as live_server:
        _peru_in_spanish(browser, live_server)


def _peru_in_spanish(browser: Any, live_server: LiveServer) -> None:
    engine = live_server.engine
    case = live_server.make_case("PER", "submit_expression_of_interest", name="Perú")
    with transaction(engine.sessions) as s:
        rosa = create_user(
            s,
            "rosa",
            E2E_PASSWORD,
            ["country"],
            now=live_server.clock.now(),
            country="PER",
            display_name="Rosa Quispe",
            email="rosa@trabajo.gob.example",
            locale="es",
        )
        rosa_id = rosa.id
    ctx = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="es-PE"
    )
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto("/login")
        assert page.locator("html").get_attribute("lang") == "es"  # from Accept-Language
        page.fill("#username", "rosa")
        page.fill("#password", E2E_PASSWORD)
        page.click("button:has-text('Iniciar sesión')")
        page.goto("/inbox")
        inbox = page.inner_text("main")
        assert "Bandeja de entrada" in page.inner_text("header")
        task = next(t for t in engine.ready_tasks(case.id) if t.country == "PER")
        if task.due_at is not None:  # the due date in Spanish ("5 mar 2027"), not English
            assert format_date(task.due_at, "medium", locale="es") in inbox
            assert format_date(task.due_at, "medium", locale="en") not in inbox
        shot(page, "i18n-es-01-inbox")

        page.click("text=Presentar la manifestación de interés")
        page.wait_for_selector("#task-form")
        form = page.inner_text("#task-form")
        for label in ("Fecha de la carta", "Firmada por un ministro", "Ministro competente"):
            assert label in form
        for choice in ("Trabajo forzoso", "Esclavitud moderna", "Trata de personas"):
            assert choice in form
        assert "Trabajo infantil" in form and "Director General de la OIT" in form
        assert "Forced labour" not in form
        shot(page, "i18n-es-02-form")

        # Signed by a minister but addressed to the head of the Secretariat, and no topic.
        page.fill("#f-letter_date", "2027-01-04")
        page.check("#f-signed_by_minister-1")
        page.fill("#f-minister_name", "Hon. Daniel Maurate")
        page.fill("#f-ministry", "Ministerio de Trabajo y Promoción del Empleo")
        page.check("input[name=addressee][value=head_of_secretariat]")
        page.fill("#f-senior_official_name", "Ana Torres")
        page.fill("#f-senior_official_email", "ana.torres@trabajo.gob.example")
        page.check("input[name=commitments][value=national_action_plan]")
        page.click("button[value=complete]")
        page.wait_for_selector("#error-summary")
        summary = page.inner_text("#error-summary")
        assert "campos requieren atención" in summary
        assert "Marque al menos un tema" in page.inner_text("#f-topics_covered")
        assert "Director General de la OIT" in page.inner_text("#f-addressee")
        assert "required" not in summary.lower()
        shot(page, "i18n-es-03-validation")

        page.check("input[name=addressee][value=ilo_director_general]")
        page.check("input[name=topics_covered][value=forced_labour]")
        page.check("input[name=topics_covered][value=child_labour]")
        page.click("button[value=complete]")
        page.wait_for_url(re.compile(r".*/(procedure|inbox)$"))
        assert "Hecho: Presentar la manifestación de interés." in page.inner_text("main")
        page.goto("/procedure")
        tracker = page.inner_text("main")
        assert "Revisar la manifestación de interés" in tracker
        today = live_server.clock.now()
        assert format_date(today, "medium", locale="es") in tracker  # "4 ene 2027"
        shot(page, "i18n-es-04-confirmation")
    finally:
        ctx.close()

    # The Secretariat asks for changes: Rosa's e-mail is in Spanish.
    review = next(
        t for t in engine.ready_tasks(case.id) if t.element_id == "review_expression_of_interest"
    )
    engine.complete(
        review.id,
        {"eoi_decision": "sent_back", "eoi_review_comments": "Please attach the signed letter."},
        live_server.actors["sam"],
    )
    engine.outbox.queue_due()  # what the worker's mail pass does first
    with engine.session() as s:
        assert s.get(User, rosa_id) is not None
        mails = list(
            s.execute(select(OutboxMessage).where(OutboxMessage.user_id == rosa_id)).scalars()
        )
    sent_back = [m for m in mails if m.kind == "sent_back"]
    assert len(sent_back) == 1, [(m.kind, m.subject) for m in mails]
    mail = sent_back[0]
    assert mail.subject == "Devuelta: Presentar la manifestación de interés (Perú)"
    assert "Hola, Rosa Quispe:" in mail.body_text
    assert "Su envío fue devuelto en el paso «Revisar la manifestación de interés»" in (
        mail.body_text
    )
    assert "Please attach the signed letter." in mail.body_text  # the reviewer's own words
    assert "Abrir la tarea" in mail.body_html and 'lang="es"' in mail.body_html
