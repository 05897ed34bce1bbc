"""A full OpenID Connect sign-in in Chromium against a real OpenID provider on the loopback:
the provider's own sign-in and consent pages, the callback, the user created with the role and
country an admin mapped, and their inbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.people.identities import add_mapping
from engine.store.db import transaction
from engine.store.models import User
from tests.e2e.conftest import E2E, LiveServer, running_server, shot
from tests.fixtures.oidc import start_provider

pytestmark = E2E


@pytest.fixture
def oidc_server(tmp_path: Path) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        provider = stack.enter_context(start_provider(tmp_path))
        server = stack.enter_context(
            running_server(tmp_path, oidc_providers=(provider.settings(),))
        )
        with transaction(server.engine.sessions) as s:
            add_mapping(
                s,
                provider="test",
                claim_value="pf-country-npl",
                role="country",
                country="NPL",
                providers=["test"],
                actor="ada",
                now=server.clock.now(),
            )
        server.make_case("NPL", name="Nepal")
        yield server


def test_sign_in_through_the_provider_lands_in_the_inbox(
    browser: Any, oidc_server: LiveServer
) -> None:
    ctx = browser.new_context(base_url=oidc_server.url, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto("/login")
        page.click("text=Sign in with Test ID")
        # The provider's own pages: sign-in, then consent.
        page.fill("input[name=login]", "amina")
        page.fill("input[name=password]", "whatever")
        page.click("button:has-text('Sign-in')")
        page.click("button:has-text('Continue')")
        page.wait_for_url(re.compile(r".*/inbox.*"))
        assert page.locator(".who").inner_text().startswith("Amina Shrestha")
        assert "NPL" in page.locator(".who").inner_text()
        assert page.get_by_text("Nepal").count() >= 1  # the Nepal case's task is in her inbox
        shot(page, "oidc-inbox")
        with oidc_server.engine.session() as s:
            user = s.execute(select(User).where(User.username == "amina")).scalar_one()
            assert (user.roles, user.country) == (["country"], "NPL")

        page.click("text=Sign out")
        page.get_by_text("Also sign out of your organisation").wait_for()
        shot(page, "oidc-signed-out")
    finally:
        ctx.close()
