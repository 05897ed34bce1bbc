"""Who may do what: actors, roles, and the lane -> role mapping of a process model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ROLES = ("admin", "process_owner", "secretariat", "chair", "gcg", "country", "auditor")
"""Every role the product knows, in the order the admin page lists them."""

LANE_ALIASES = {"gcg_chair": "chair", "chair": "chair", "focal_point": "country"}


@dataclass(frozen=True)
class Actor:
    """The person (or system component) on whose behalf the engine acts."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    country: str | None = None
    """ISO 3166-1 alpha-3; set for `country` users, who only see their own country."""

    def __init__(
        self, username: str, roles: Iterable[str] = (), country: str | None = None
    ) -> None:
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "roles", frozenset(roles))
        object.__setattr__(self, "country", country.upper() if country else None)

    def has(self, *roles: str) -> bool:
        """True when the actor holds any of `roles`."""
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


SYSTEM = Actor("system", roles=("admin",))
"""The engine itself, for timers and other automatic work."""


def role_for_lane(lane: str | None, lane_roles: Mapping[str, str]) -> str | None:
    """The role that acts in `lane`: the model's explicit mapping, else derived from its name."""
    if lane is None:
        return None
    if lane in lane_roles:
        return lane_roles[lane]
    slug = re.sub(r"[^a-z0-9]+", "_", lane.lower()).strip("_")
    return LANE_ALIASES.get(slug, slug)


def may_act_in_lane(actor: Actor, lane: str | None, lane_roles: Mapping[str, str]) -> bool:
    """Admins act anywhere; tasks without a lane belong to anyone who may see the instance."""
    if actor.is_admin:
        return True
    if actor.has("auditor"):
        return False  # auditors read everything and change nothing
    role = role_for_lane(lane, lane_roles)
    return role is None or role in actor.roles


def may_see_country(actor: Actor, country: str | None) -> bool:
    """Country users see only their own country's instances; other staff see all."""
    if not actor.has("country") or actor.has("admin", "secretariat", "chair", "gcg", "auditor"):
        return True
    return country is not None and country == actor.country


def may_start(actor: Actor, start_roles: Iterable[str]) -> bool:
    """Admins and process owners may start anything; others where the model allows their role."""
    return actor.has("admin", "process_owner") or bool(actor.roles.intersection(start_roles))
