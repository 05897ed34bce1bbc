"""Microsoft Entra's groups overage, against the real OpenID provider: a person in too many
groups for the token gets `_claim_names` instead of `groups`, and Pathfinder reads the groups
from the groups URL (Microsoft Graph's getMemberObjects, stood in for here by a local server:
Graph is outside the product) with the sign-in's access token."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from engine import Engine, Settings, VirtualClock
from engine.config import GRAPH_MEMBER_OBJECTS, oidc_providers_from_env
from engine.people.identities import add_mapping, claim_values, mapped_access
from engine.store.db import transaction
from engine.store.models import AuditEvent, User
from tests.fixtures.oidc import RunningProvider
from tests.web.test_oidc import _app, _callback, _provider_login, _start

MANY = [f"group-{i:05d}" for i in range(3000)] + ["pf-country-gha"]


class Graph:
    """A stand-in for Microsoft Graph's POST /me/getMemberObjects."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        self.values: list[str] = MANY
        graph = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                graph.calls.append(
                    {
                        "authorization": self.headers.get("Authorization", ""),
                        "body": json.loads(self.rfile.read(length) or b"{}"),
                    }
                )
                body = json.dumps({"value": graph.values}).encode()
                self.send_response(graph.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1.0/me/getMemberObjects"


@pytest.fixture
def graph() -> Iterator[Graph]:
    stand_in = Graph()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    thread.join(10)


@pytest.fixture
def provider(oidc_provider: Callable[..., RunningProvider]) -> RunningProvider:
    return oidc_provider()


def _map_ghana(engine: Engine) -> None:
    with transaction(engine.sessions) as s:
        add_mapping(
            s,
            provider="test",
            claim_value="pf-country-gha",
            role="country",
            country="GHA",
            providers=["test"],
            actor="ada",
            now=engine.now(),
        )


def test_groups_that_did_not_fit_in_the_token_are_read_from_the_groups_url(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    provider: RunningProvider,
    graph: Graph,
) -> None:
    _map_ghana(deployed)
    web = _app(deployed, settings, clock, provider.settings(groups_url=graph.url))

    response = _callback(web, _provider_login(_start(web), "kofi"))

    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")
    [call] = graph.calls
    assert call["authorization"].startswith("Bearer ") and len(call["authorization"]) > 20
    assert call["body"] == {"securityEnabledOnly": False}
    with deployed.session() as s:
        user = s.scalars(select(User).where(User.username == "kofi")).one()
        assert (user.roles, user.country) == (["country"], "GHA")


@pytest.mark.parametrize("trouble", ["no groups URL", "groups URL fails"])
def test_a_sign_in_whose_groups_cannot_be_read_is_refused(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    provider: RunningProvider,
    graph: Graph,
    trouble: str,
) -> None:
    _map_ghana(deployed)
    graph.status = 403  # e.g. the application lacks GroupMember.Read.All
    url = "" if trouble == "no groups URL" else graph.url
    web = _app(deployed, settings, clock, provider.settings(groups_url=url))

    response = _callback(web, _provider_login(_start(web), "kofi"))

    page = response.get_data(as_text=True)
    if trouble == "no groups URL":
        assert response.status_code == 403 and "too many groups" in page
        assert graph.calls == []
    else:
        assert response.status_code == 502 and "could not be read" in page
    assert web.get("/inbox").status_code == 302  # not signed in
    with deployed.session() as s:
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.kind == "sign_in_refused")).all()
        assert len(refusals) == 1 and "groups" in refusals[0].data["reason"]


def test_entra_issuers_read_groups_from_microsoft_graph_by_default() -> None:
    env = {
        "PATHFINDER_OIDC_PROVIDERS": "entra,keycloak",
        "PATHFINDER_OIDC_ENTRA_ISSUER": "https://login.microsoftonline.com/tenant-id/v2.0",
        "PATHFINDER_OIDC_ENTRA_CLIENT_ID": "app",
        "PATHFINDER_OIDC_KEYCLOAK_ISSUER": "https://id.example.org/realms/ilo",
        "PATHFINDER_OIDC_KEYCLOAK_CLIENT_ID": "pathfinder",
    }
    entra, keycloak = oidc_providers_from_env(env)
    assert entra.groups_url == GRAPH_MEMBER_OBJECTS
    assert keycloak.groups_url == ""
    [custom] = oidc_providers_from_env(
        {**env, "PATHFINDER_OIDC_PROVIDERS": "entra", "PATHFINDER_OIDC_ENTRA_GROUPS_URL": ""}
    )
    assert custom.groups_url == ""


def test_a_person_in_thousands_of_groups_gets_the_mapped_roles(deployed: Engine) -> None:
    _map_ghana(deployed)
    with deployed.session() as s:
        values = claim_values({"groups": MANY}, "groups")
        assert len(values) == len(MANY)
        assert mapped_access(s, "test", values) == (["country"], "GHA")
        assert mapped_access(s, "test", MANY[:-1]) is None
