"""Checked API tokens are kept in memory briefly (`PATHFINDER_TOKEN_CACHE_SECONDS`), yet a
revocation, a deactivation or a role change committed by this process counts on the very next
request, and one from elsewhere once the cache time has passed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from engine import Engine
from engine.people.handles import Person
from engine.people.token_cache import TokenCache
from engine.people.tokens import revoke_all
from engine.store.db import transaction
from engine.store.models import ApiToken, User
from tests.fixtures.statements import Statements

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]


def _me(client: FlaskClient, headers: dict[str, str]) -> tuple[int, list[str] | None]:
    answer = client.get("/api/v1/auth/me", headers=headers)
    return answer.status_code, (answer.json or {}).get("roles")


def test_a_second_request_does_not_read_the_token_again(
    api_client: FlaskClient, auth: Auth, count_statements: Callable[..., Statements]
) -> None:
    assert _me(api_client, auth("country"))[0] == 200
    with count_statements() as seen:
        assert _me(api_client, auth("country"))[0] == 200
    assert not any("api_tokens" in s for s in seen), seen.report()


def test_a_revoked_token_is_refused_on_the_next_request(
    api_client: FlaskClient, auth: Auth
) -> None:
    assert _me(api_client, auth("country"))[0] == 200
    [token] = api_client.get("/api/v1/auth/tokens", headers=auth("country")).json
    revoked = api_client.delete(f"/api/v1/auth/tokens/{token['id']}", headers=auth("country"))
    assert revoked.status_code == 204
    assert _me(api_client, auth("country"))[0] == 401


def test_role_changes_and_deactivation_count_on_the_next_request(
    api_client: FlaskClient, auth: Auth, engine: Engine, api_users: dict[str, int]
) -> None:
    assert _me(api_client, auth("country")) == (200, ["country"])
    with transaction(engine.sessions) as s:
        s.get_one(User, api_users["country"]).roles = ["country", "secretariat"]
    assert _me(api_client, auth("country")) == (200, ["country", "secretariat"])
    with transaction(engine.sessions) as s:
        s.get_one(User, api_users["country"]).active = False
    assert _me(api_client, auth("country"))[0] == 401


def test_tokens_revoked_by_a_bulk_update_are_refused_on_the_next_request(
    api_client: FlaskClient, auth: Auth, engine: Engine, api_users: dict[str, int]
) -> None:
    assert _me(api_client, auth("admin"))[0] == 200
    with transaction(engine.sessions) as s:  # as a password reset does
        assert revoke_all(s, api_users["admin"], now=datetime.now(UTC)) == 1
    assert _me(api_client, auth("admin"))[0] == 401


def test_a_change_made_elsewhere_counts_once_the_cache_time_passed(
    api_client: FlaskClient, auth: Auth, engine: Engine, api_users: dict[str, int]
) -> None:
    ticks = [0.0]
    engine.tokens._cache = TokenCache(5.0, monotonic=lambda: ticks[0])
    engine.tokens._cache.watch(engine.sessions)
    assert _me(api_client, auth("gcg"))[0] == 200
    # Another process (a second server, the CLI) revokes it: this process's cache does not hear.
    with engine.sessions.kw["bind"].begin() as conn:
        conn.execute(
            ApiToken.__table__.update()
            .where(ApiToken.user_id == api_users["gcg"])
            .values(revoked_at=datetime.now(UTC))
        )
    ticks[0] = 4.9
    assert _me(api_client, auth("gcg"))[0] == 200  # within PATHFINDER_TOKEN_CACHE_SECONDS
    ticks[0] = 5.0
    assert _me(api_client, auth("gcg"))[0] == 401


PERSON = Person(1, "nima", None, None, ("country",), "NPL", True)


def test_the_cache_serves_a_token_for_its_time_and_never_past_its_expiry() -> None:
    ticks = [0.0]
    cache = TokenCache(5.0, monotonic=lambda: ticks[0])
    now = datetime(2027, 1, 4, tzinfo=UTC)
    cache.put("a", PERSON, expires_at=None)
    cache.put("b", PERSON, expires_at=now + timedelta(seconds=2))
    assert cache.get("a", now) == PERSON and cache.get("b", now) == PERSON
    assert cache.get("b", now + timedelta(seconds=2)) is None  # expired, whatever the cache time
    ticks[0] = 5.0
    assert cache.get("a", now) is None
    off = TokenCache(0.0)
    off.put("a", PERSON, expires_at=None)
    assert off.get("a", now) is None
