"""The procedure page ("Our procedure") lists the country's documents, never internal ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from engine import Engine
from engine.store.models import Attachment, Instance
from tests.web.conftest import Web


@pytest.fixture
def case(make_case: Callable[..., Instance]) -> Instance:
    return make_case()


def _attach(deployed: Engine, case: Instance, filename: str, field: str) -> str:
    ident = str(uuid.uuid4())
    with deployed.session() as s:
        s.add(
            Attachment(
                id=ident,
                sha256="0" * 64,
                size=10,
                filename=filename,
                content_type="application/pdf",
                uploaded_by="secretariat",
                uploaded_at=deployed.now(),
                instance_id=case.id,
                field=field,
                state="attached",
            )
        )
        s.commit()
    return ident


def test_country_users_do_not_see_internal_documents_staff_do(
    deployed: Engine, case: Instance, login: Callable[[str], Web]
) -> None:
    # `hold_letter` is an ordinary field of decide_on_hold; `deliberation_notes` is internal there.
    _attach(deployed, case, "letter-to-the-minister.pdf", "hold_letter")
    internal = _attach(deployed, case, "gcg-deliberation.pdf", "deliberation_notes")

    web = login("country")
    page = web.html("/procedure")
    assert "letter-to-the-minister.pdf" in page
    assert "gcg-deliberation.pdf" not in page
    assert "gcg-deliberation.pdf" not in web.html(f"/instances/{case.id}")
    assert web.get(f"/attachments/{internal}").status_code == 404  # not served either

    web = login("secretariat")
    page = web.html(f"/instances/{case.id}/procedure")
    assert "letter-to-the-minister.pdf" in page and "gcg-deliberation.pdf" in page
