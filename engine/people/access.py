"""Who acts: actors, roles, and the lane -> role mapping of a process model.

What an actor may see and do is decided in `engine.permissions`.
"""

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
        """Whether the actor holds the admin role."""
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
