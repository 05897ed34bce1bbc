"""People who sign in through an OpenID provider, and how their claims become roles.

A person is found by the issuer and subject of their verified ID token (`iss` + `sub`, which a
provider never reuses), never by e-mail or name. The first sign-in creates a Pathfinder user;
roles come from the claim mappings an admin edits (a group -> a role and a country). When none of
the person's claim values is mapped, their roles stay as they are: a new user has none and waits
for an admin to grant them. Every sign-in, refusal and role change by mapping is audited on the
system chain.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidData, NotFound
from engine.people import sessions
from engine.people.access import ROLES
from engine.records.history import Recorder
from engine.store.models import ClaimMapping, ExternalIdentity, User

EXTERNAL_PASSWORD_PREFIX = "!external:"  # noqa: S105 - a marker, not a secret
"""Starts the password hash of users made by an OpenID sign-in: no password matches it."""


@dataclass(frozen=True)
class ExternalSignIn:
    """What an OpenID sign-in did."""

    user: User
    created: bool
    """A new Pathfinder user was made for this person."""
    roles_changed: bool
    """The claim mappings changed the user's roles or country."""
    refusal: str | None = None
    """Why this person may not sign in (e.g. a deactivated account), for them to read; the
    refusal is recorded in the same transaction, so the caller commits either way."""


def audit_sign_in(
    session: Session, now: datetime, username: str, method: str, **data: object
) -> None:
    """Record a successful sign-in (`method`: password or oidc:<provider>)."""
    Recorder(session, None, now).record(
        "user_signed_in",
        actor=username,
        element_id=f"user:{username}",
        data={"username": username, "method": method, **data},
    )


def signed_out_by_provider(
    session: Session,
    provider: str,
    issuer: str,
    subject: str | None,
    sid: str | None,
    now: datetime,
    recorded_at: datetime,
) -> int:
    """An OpenID provider's back-channel logout: end the web sessions it names
    (`sessions.end_for_provider`, on the wall clock `now`) and record, per person, how many
    ended (at the engine's `recorded_at`, as sign-ins are). Returns how many."""
    ended = sessions.end_for_provider(session, issuer, subject=subject, sid=sid, now=now)
    for user_id, count in sorted(Counter(ended).items()):
        user = session.get(User, user_id)
        if user is None:
            continue
        Recorder(session, None, recorded_at).record(
            "user_signed_out_by_provider",
            actor=f"oidc:{provider}",
            element_id=f"user:{user.username}",
            data={"username": user.username, "provider": provider, "sessions": count},
        )
    return len(ended)


def audit_refusal(
    session: Session, now: datetime, method: str, reason: str, **data: object
) -> None:
    """Record a refused sign-in: who tried (as far as known), how, and why."""
    Recorder(session, None, now).record(
        "sign_in_refused",
        actor="system",
        element_id=f"sign-in:{method}",
        data={"method": method, "reason": reason, **data},
    )


def mapped_access(
    session: Session, provider: str, values: list[str]
) -> tuple[list[str], str | None] | None:
    """The roles and country the mappings of `provider` give for these claim values, or None
    when none of them is mapped. With several mapped countries the first (by value) wins.
    (The provider's mappings are few, a person's groups may be thousands: the mappings are
    read and matched here rather than sent as a list of values.)"""
    if not values:
        return None
    have = set(values)
    rows = session.execute(
        select(ClaimMapping)
        .where(ClaimMapping.provider == provider)
        .order_by(ClaimMapping.claim_value, ClaimMapping.id)
    ).scalars()
    roles: list[str] = []
    country = None
    found = False
    for row in rows:
        if row.claim_value not in have:
            continue
        found = True
        if row.role not in roles:
            roles.append(row.role)
        country = country or row.country
    if not found:
        return None
    return sorted(roles, key=ROLES.index), country


MAX_CLAIM_VALUES = 20_000
"""Values of a roles claim read at most (an Entra user's groups, read after an overage, can
number in the thousands)."""


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The values of a roles claim: a list of strings, or one string."""
    raw = claims.get(claim)
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [v for v in raw[:MAX_CLAIM_VALUES] if isinstance(v, str)]
    return []


def _free_username(session: Session, claims: Mapping[str, Any], username_claim: str) -> str:
    for candidate in (claims.get(username_claim), claims.get("email"), claims.get("sub")):
        if not isinstance(candidate, str):
            continue
        base = re.sub(r"[^A-Za-z0-9_.@-]", "", candidate)[:140]
        if len(base) < 2:
            continue
        name, n = base, 1
        while session.execute(select(User.id).where(User.username == name)).first():
            n += 1
            name = f"{base}-{n}"
        return name
    return f"user-{secrets.token_hex(6)}"


def sign_in_external(
    session: Session,
    *,
    provider: str,
    issuer: str,
    claims: Mapping[str, Any],
    roles_claim: str,
    username_claim: str,
    now: datetime,
) -> ExternalSignIn:
    """Find or create the user for verified `claims` (with `sub`) and apply the claim mappings.

    A deactivated account is refused: the result's `refusal` says why (and is audited).
    """
    subject = str(claims["sub"])
    identity = session.execute(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    ).scalar()
    created = identity is None
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    if identity is None:
        user = User(
            username=_free_username(session, claims, username_claim),
            password_hash=EXTERNAL_PASSWORD_PREFIX + secrets.token_hex(24),
            roles=[],
            email=email[:300] if email else None,
            display_name=name[:300] if name else None,
            active=True,
            notify="immediate",
            created_at=now,
        )
        session.add(user)
        session.flush()
        identity = ExternalIdentity(
            issuer=issuer, subject=subject, provider=provider, user_id=user.id, created_at=now
        )
        session.add(identity)
        Recorder(session, None, now).record(
            "user_created",
            actor="system",
            element_id=f"user:{user.username}",
            data={"username": user.username, "roles": [], "via": f"oidc:{provider}"},
        )
    else:
        user = identity.user
    if not user.active:
        audit_refusal(
            session, now, f"oidc:{provider}", "account deactivated", username=user.username
        )
        message = "Your Pathfinder account is deactivated. Ask an administrator."
        return ExternalSignIn(user=user, created=created, roles_changed=False, refusal=message)
    identity.provider, identity.last_sign_in_at = provider, now
    if email and not user.email:
        user.email = email[:300]
    changed = _apply_mappings(session, user, provider, claims, roles_claim, now)
    audit_sign_in(session, now, user.username, f"oidc:{provider}", issuer=issuer, subject=subject)
    session.flush()
    return ExternalSignIn(user=user, created=created, roles_changed=changed)


def _apply_mappings(
    session: Session,
    user: User,
    provider: str,
    claims: Mapping[str, Any],
    roles_claim: str,
    now: datetime,
) -> bool:
    access = mapped_access(session, provider, claim_values(claims, roles_claim))
    if access is None:
        return False
    roles, country = access
    before = {"roles": list(user.roles or []), "country": user.country}
    if before == {"roles": roles, "country": country}:
        return False
    user.roles, user.country = roles, country
    Recorder(session, None, now).record(
        "user_roles_mapped",
        actor="system",
        element_id=f"user:{user.username}",
        data={
            "username": user.username,
            "provider": provider,
            "before": before,
            "after": {"roles": roles, "country": country},
        },
    )
    return True


# ------------------------------------------------------------------------ claim mappings


def list_mappings(session: Session) -> list[ClaimMapping]:
    """Every claim mapping, by provider and claim value."""
    return list(
        session.execute(
            select(ClaimMapping).order_by(ClaimMapping.provider, ClaimMapping.claim_value)
        ).scalars()
    )


def add_mapping(
    session: Session,
    *,
    provider: str,
    claim_value: str,
    role: str,
    country: str | None,
    providers: list[str],
    actor: str,
    now: datetime,
) -> ClaimMapping:
    """Map a claim value of a configured provider to a role (and country); audited."""
    claim_value = claim_value.strip()
    country = country.strip().upper() if country and country.strip() else None
    errors = {}
    if provider not in providers:
        errors["provider"] = "Choose one of the configured providers."
    if not claim_value or len(claim_value) > 300:
        errors["claim_value"] = "Enter the claim value (1-300 characters), such as a group name."
    if role not in ROLES:
        errors["role"] = "Choose a role."
    if country and not (len(country) == 3 and country.isalpha()):
        errors["country"] = "Use an ISO 3166-1 alpha-3 code, such as NPL."
    if role == "country" and not country:
        errors["country"] = "Country users need their country (such as NPL)."
    if errors:
        raise InvalidData("The mapping could not be saved.", errors)
    taken = session.execute(
        select(ClaimMapping.id).where(
            ClaimMapping.provider == provider, ClaimMapping.claim_value == claim_value
        )
    ).first()
    if taken:
        raise Conflict(f"'{claim_value}' of {provider} is already mapped; delete it first.")
    row = ClaimMapping(
        provider=provider,
        claim_value=claim_value,
        role=role,
        country=country,
        created_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    _audit_mapping(session, "claim_mapping_added", row, actor, now)
    return row


def delete_mapping(session: Session, mapping_id: int, *, actor: str, now: datetime) -> ClaimMapping:
    """Remove a claim mapping (users keep their roles until their next sign-in); audited."""
    row = session.get(ClaimMapping, mapping_id)
    if row is None:
        raise NotFound(f"No claim mapping {mapping_id}.")
    _audit_mapping(session, "claim_mapping_deleted", row, actor, now)
    session.delete(row)
    session.flush()
    return row


def _audit_mapping(
    session: Session, kind: str, row: ClaimMapping, actor: str, now: datetime
) -> None:
    Recorder(session, None, now).record(
        kind,
        actor=actor,
        element_id=f"claim-mapping:{row.provider}:{row.claim_value}"[:200],
        data={
            "provider": row.provider,
            "claim_value": row.claim_value,
            "role": row.role,
            "country": row.country,
        },
    )


def mapping(session: Session, mapping_id: int) -> ClaimMapping:
    """One claim mapping; NotFound if it is gone."""
    row = session.get(ClaimMapping, mapping_id)
    if row is None:
        raise NotFound(f"No claim mapping {mapping_id}.")
    return row
