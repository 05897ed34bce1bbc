"""The auditor is read-only: every route of the app that accepts POST, PUT, PATCH or DELETE
(pages and /api/v1, those that exist now and any added later) answers 403 to an auditor and
changes nothing in the database. A new mutating route fails this test until it refuses
auditors, or is added to `ALLOWED` with the reason."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule
from werkzeug.routing.converters import AnyConverter

from engine import Actor, Engine
from engine.people.identities import add_mapping
from engine.store.db import Base, transaction
from engine.store.models import (
    ApiToken,
    AuditEvent,
    HumanTask,
    Instance,
    LoginAttempt,
    ProcessModel,
    User,
)
from tests.web.conftest import PASSWORD, Web, user_row
from web.pages import audit as audit_views

MUTATING = ("POST", "PUT", "PATCH", "DELETE")

ALLOWED = {
    "auth.login": "signing in records no change to any case; auditors must be able to sign in",
    "auth.logout": "signing out only ends the auditor's own session",
    "api.auth.issue_token": "a bearer token is how an auditor reads through the API",
    "api.auth.revoke_token": "revoking a token only narrows the caller's own access",
    "notifications.settings": "an auditor's own e-mail address and notification preference",
    "notifications.unsubscribe": "the signed link in one's own e-mails; changes only that",
    "account.api_token_new": "an auditor's own API token, as through the API",
    "account.api_token_revoke": "revoking a token only narrows the caller's own access",
    "i18n.choose": "the language one reads Pathfinder in is one's own profile setting",
    "oidc_logout.backchannel_logout": "an OpenID provider's server-to-server call: a signed "
    "logout token is its only authority, never the caller's session",
}
"""Mutating endpoints an auditor may call, each with the reason. They are still called below and
must leave cases, tasks, events, models and other users untouched."""

NOT_OPERATIONS = {
    "api.unknown_route": "the catch-all that answers 404 problem+json for addresses the API "
    "does not have (it accepts every method so that they get that answer too)",
}
"""Rules that accept changing methods but are no operation; they must answer 404."""

OWN_ACCOUNT_TABLES = {ApiToken.__tablename__, LoginAttempt.__tablename__}
"""Tables the allowed routes may write (the auditor's own tokens and sign-in attempts)."""
SIGN_IN_EVENTS = ("user_signed_in", "sign_in_refused")
"""Audit events the allowed sign-in route writes about the auditor's own sign-in."""


@pytest.fixture
def full_app(app: Flask) -> Flask:
    """The app with every blueprint there is, including those create_app may not register yet."""
    if "audit" not in app.blueprints:
        app.register_blueprint(audit_views.bp)
    if "notifications" not in app.blueprints and importlib.util.find_spec(
        "web.pages.notifications"
    ):
        from web.pages import notifications as notifications_views

        notifications_views.init_app(app)
    return app


@pytest.fixture
def case(deployed: Engine, make_case: Callable[..., Instance]) -> Instance:
    """A running Nepal case with an open Country task and a waiting timer."""
    return make_case("NPL", "submit_expression_of_interest")


def _samples(engine: Engine, case: Instance, token_id: int) -> dict[str, list[Any]]:
    """Real values for every URL argument, so a refusal cannot be a 404 in disguise."""
    tasks = [t.id for t in engine.ready_tasks(case.id)]
    with transaction(engine.sessions) as s:
        mapping_id = add_mapping(
            s,
            provider="test",
            claim_value="staff",
            role="secretariat",
            country=None,
            providers=["test"],
            actor="ada",
            now=engine.now(),
        ).id
    return {
        "instance_id": [case.id],
        "task_id": tasks,
        "user_id": [user_row(engine, "ada").id, user_row(engine, "aud").id],
        "key": ["pathfinder"],
        "token_id": [token_id],
        "message_id": [1],
        "name": ["withdrawal"],
        "token": ["not-a-real-token"],
        "mapping_id": [mapping_id],
        "path": ["anything/else"],
    }


def _urls(rule: Rule, samples: dict[str, list[Any]]) -> Iterator[str]:
    """Every concrete URL for `rule`: each sample value, and each choice of an `any()` part."""
    combos: list[dict[str, Any]] = [{}]
    for name in sorted(rule.arguments):
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values = sorted(converter.items)
        else:
            assert name in samples, f"add a sample value for <{name}> of {rule.rule}"
            values = samples[name]
        combos = [{**c, name: v} for c in combos for v in values]
    for values in combos:
        built = rule.build(values, append_unknown=False)
        assert built is not None, (rule.rule, values)
        yield built[1]


def _snapshot(engine: Engine) -> dict[str, Any]:
    """Row counts of every table, plus what a change without new rows would alter."""
    with engine.session() as s:
        counts = {
            t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name not in OWN_ACCOUNT_TABLES
        }
        counts[AuditEvent.__tablename__] = s.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.kind.not_in(SIGN_IN_EVENTS))
        ).scalar_one()
        return {
            **counts,
            "instances": [
                (i.id, i.status, i.lock_version, i.audit_head)
                for i in s.execute(select(Instance).order_by(Instance.id)).scalars()
            ],
            "tasks": [
                (t.id, t.state, t.claimed_by, t.draft)
                for t in s.execute(select(HumanTask).order_by(HumanTask.id)).scalars()
            ],
            "users": [
                (u.id, u.roles, u.active, u.password_hash, u.email, u.notify)
                for u in s.execute(select(User).order_by(User.id)).scalars()
            ],
            "models": [
                (m.key, m.lane_roles, m.start_roles)
                for m in s.execute(select(ProcessModel)).scalars()
            ],
        }


def _call(web: Web, method: str, url: str, bearer: dict[str, str]) -> Any:
    if url.startswith("/api/"):
        return web.client.open(url, method=method, json={}, headers=bearer)
    # A browser form: the CSRF token of the pages seen, and nothing else.
    return web.client.open(url, method=method, data={"csrf_token": web.token or ""})


def _auditor(app: Flask) -> Web:
    web = Web(app.test_client())
    assert web.login("aud").status_code == 302
    web.get("/inbox")
    return web


def test_auditor_is_refused_on_every_mutating_route(
    full_app: Flask, deployed: Engine, case: Instance, users: dict[str, Actor]
) -> None:
    app, engine = full_app, deployed
    issued = [
        app.test_client().post(
            "/api/v1/auth/token", json={"username": "aud", "password": PASSWORD, "name": name}
        )
        for name in ("reading", "to revoke")
    ]
    assert [t.status_code for t in issued] == [201, 201]
    bearer = {"Authorization": f"Bearer {issued[0].json['token']}"}

    samples = _samples(engine, case, issued[1].json["id"])
    mutating = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in MUTATING
        if method in (rule.methods or ())
    ]
    assert {r.endpoint for r, _ in mutating} >= {"tasks.submit", "api.tasks.complete_task"}
    stale = set(ALLOWED) - {r.endpoint for r, _ in mutating}
    assert not stale, f"ALLOWED names endpoints that no longer accept changes: {stale}"

    refused, wrong = 0, []
    for rule, method in mutating:
        for url in _urls(rule, samples):
            web = _auditor(app)  # afresh each time: one allowed route signs out
            before = _snapshot(engine)
            response = _call(web, method, url, bearer)
            after = _snapshot(engine)
            if before != after:
                changed = [k for k in before if before[k] != after[k]]
                wrong.append(f"{method} {url} ({rule.endpoint}) changed {changed}")
            if rule.endpoint in ALLOWED:
                continue
            expected = 404 if rule.endpoint in NOT_OPERATIONS else 403
            if response.status_code != expected:
                wrong.append(f"{method} {url} ({rule.endpoint}) answered {response.status_code}")
            elif expected == 403:
                refused += 1
    assert not wrong, "\n".join(wrong)
    assert refused >= 25  # every page and API change checked, not just a few


def test_auditor_reads_everything(full_app: Flask, deployed: Engine, case: Instance) -> None:
    """Read-only is not no-access: every case, every model version, every event."""
    web = _auditor(full_app)
    with deployed.session() as s:
        version_ids = list(s.execute(select(Instance.process_version_id)).scalars())
    for url in (
        f"/instances/{case.id}",
        f"/audit/instances/{case.id}",
        f"/audit/instances/{case.id}/export.json",
        "/audit/versions",
        *(f"/audit/versions/{v}/diagram.bpmn" for v in version_ids),
        "/audit?country=NPL",
        "/audit/countries/NPL",
        f"/api/v1/instances/{case.id}",
        f"/api/v1/instances/{case.id}/history",
        "/api/v1/process-models/pathfinder",
    ):
        assert web.get(url).status_code == 200, url
