"""Case values read as words in English, French and Spanish: the case timeline shows status
values by their labels (never "candidate" codes or "on_track"), and "Our procedure" lists the
country's documents without internal ones. Screenshots at desktop and phone width."""

from __future__ import annotations

from typing import Any

import pytest

from engine.people.accounts import create_user
from engine.store.db import transaction
from engine.store.models import Attachment
from tests.e2e.conftest import E2E, E2E_PASSWORD, LiveServer, shot, sign_in

pytestmark = E2E

LANGS = {
    # lang: (country, Secretariat user, focal point, a timeline line, what the procedure says)
    "en": ("BGD", "sam", "hasina", "Pathfinder status: — → candidate", "Our procedure"),
    "fr": ("MDG", "sam_fr", "awa", "Statut de pays pionnier : — → candidat", "Notre procédure"),
    "es": (
        "BOL",
        "sam_es",
        "lucia",
        "Condición de país pionero: — → candidato",
        "Nuestro procedimiento",
    ),
}


@pytest.fixture(scope="module")
def cases(live_server: LiveServer) -> dict[str, int]:
    """One case per language at the workshop stage, with a document and an internal one."""
    made: dict[str, int] = {}
    with transaction(live_server.engine.sessions) as s:
        for lang, (country, staff, focal, _line, _title) in LANGS.items():
            names = ((focal, ["country"], country),) if lang == "en" else ()
            for name, roles, where in names or (
                (staff, ["secretariat"], None),
                (focal, ["country"], country),
            ):
                create_user(
                    s,
                    name,
                    E2E_PASSWORD,
                    roles,
                    now=live_server.clock.now(),
                    country=where,
                    locale=lang,
                )
    for lang, (country, *_rest) in LANGS.items():
        case = live_server.make_case(country, "submit_workshop_report", name=country)
        made[lang] = case.id
        with transaction(live_server.engine.sessions) as s:
            for ident, filename, field in (
                (f"{country}-letter", f"letter-{country}.pdf", "hold_letter"),
                (f"{country}-notes", f"internal-{country}.pdf", "deliberation_notes"),
            ):
                s.add(
                    Attachment(
                        id=f"00000000-0000-4000-8000-{abs(hash(ident)) % 10**12:012d}",
                        sha256="0" * 64,
                        size=2048,
                        filename=filename,
                        content_type="application/pdf",
                        uploaded_by="sam",
                        uploaded_at=live_server.clock.now(),
                        instance_id=case.id,
                        field=field,
                        state="attached",
                    )
                )
    return made


def _as(page: Any, username: str) -> None:
    """Sign in as `username` (whatever language the previous user read the pages in)."""
    page.context.clear_cookies()
    sign_in(page, username)


@pytest.mark.parametrize("lang", list(LANGS))
def test_timeline_values_and_procedure_documents_in_each_language(
    page: Any, phone_page: Any, cases: dict[str, int], lang: str
) -> None:
    country, staff, focal, line, title = LANGS[lang]
    case_id = cases[lang]

    _as(page, staff)
    page.goto(f"/instances/{case_id}")
    timeline = page.inner_text("main")
    assert line in timeline
    assert "pathfinder_status" not in timeline and "expression_of_interest" not in timeline
    page.evaluate("document.getElementById('timeline-heading').scrollIntoView()")
    shot(page, f"timeline-status-values-{lang}-desktop", full_page=False)
    assert page.js_errors == []

    _as(page, focal)
    page.goto("/procedure")
    main = page.inner_text("main")
    assert title in main
    assert f"letter-{country}.pdf" in main and f"internal-{country}.pdf" not in main
    shot(page, f"procedure-documents-{lang}-desktop")

    _as(phone_page, focal)
    phone_page.goto("/procedure")
    assert f"internal-{country}.pdf" not in phone_page.inner_text("main")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the procedure page overflows the phone screen ({width} px)"
    shot(phone_page, f"procedure-documents-{lang}-phone")

    _as(phone_page, staff)
    phone_page.goto(f"/instances/{case_id}")
    assert line in phone_page.inner_text("main")
    phone_page.evaluate(
        "[...document.querySelectorAll('.ev-status_changed')].pop().scrollIntoView()"
    )
    shot(phone_page, f"timeline-status-values-{lang}-phone", full_page=False)
