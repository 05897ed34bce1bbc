"""Who may see and do what: the one module every page, API operation and engine call asks.

Every "may this actor see / act / start / assign / manage" question is answered here, the same
for the web pages, the REST API and the CLI. What an actor may not *see* is reported as
`NotFound` (404), exactly like something that does not exist, so ids reveal nothing about other
countries' cases; what they may see but not *do* is `Forbidden` (403).

The rules, in one place:

- **See.** Staff (`STAFF_ROLES`) see every country's cases; a country focal point (`country`
  role) sees only the cases, tasks, documents and history of their own country. So a Kenyan
  focal point asking for a Nepal task gets 404 from `may_see_country` / `visible_task`.
- **Act** on a task: see its country, and hold the role of the task's lane (admins act
  anywhere; auditors never change anything).
- **Start** a process: admins and process owners anything; others where the model's start
  roles include theirs.
- **Assign** tasks to others and **take over** a colleague's task: `MANAGER_ROLES`.
- **Manage** instances (suspend, resume, cancel, retry): `MANAGER_ROLES`.
- **Internal** form fields (`x-visibility: internal`) are shown to staff only.
- **Administer** people (accounts, API tokens of others, sign-in claim mappings, the outbox):
  `ADMIN_ROLES`; an admin may not deactivate themselves nor drop their own admin role.
- **Own models** (edit, deploy, compare, migrate instances, simulate, set lane roles):
  `MODEL_OWNER_ROLES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, NotFound
from engine.people.access import Actor, role_for_lane
from engine.store.models import HumanTask, Instance, ProcessModel, User

STAFF_ROLES = ("admin", "process_owner", "secretariat", "chair", "gcg", "auditor")
"""Roles that see every country's cases (and the dashboard, the audit pages, internal fields)."""

MANAGER_ROLES = ("admin", "secretariat")
"""Roles that manage instances (suspend, resume, cancel, retry), assign tasks to colleagues
and take over a task someone else holds."""

TAKE_OVER_ROLES = MANAGER_ROLES
"""Roles that may take over a task someone else holds."""

ADMIN_ROLES = ("admin",)
"""Roles that manage accounts, every user's API tokens, sign-in claim mappings and the outbox."""

MODEL_OWNER_ROLES = ("process_owner", "admin")
"""Roles that edit, deploy, compare and simulate process models, migrate their instances and
set who acts in each lane."""

COUNTRY_WIDE_ROLES = ("admin", "secretariat", "chair", "gcg", "auditor")
"""Roles that lift a `country` user's restriction to their own country."""


class Person(Protocol):
    """Anything with a user's roles and country (a `User` row, an account view)."""

    @property
    def roles(self) -> list[str] | tuple[str, ...] | frozenset[str] | None:
        """The person's roles."""

    @property
    def country(self) -> str | None:
        """The person's country (ISO alpha-3) when they are a country user."""


# -- see ---------------------------------------------------------------------------------------


def may_see_country(actor: Actor, country: str | None) -> bool:
    """Country users see only their own country's cases; everyone else sees all."""
    if not actor.has("country") or actor.has(*COUNTRY_WIDE_ROLES):
        return True
    return country is not None and country == actor.country


def may_see_instance(actor: Actor, instance: Instance) -> bool:
    """Staff see every instance; country users only their own country's (others: none)."""
    return may_see_instance_in(actor, instance.country)


def may_see_instance_in(actor: Actor, country: str | None) -> bool:
    """`may_see_instance` for an instance of `country` (a read that did not load the row)."""
    if actor.has(*STAFF_ROLES):
        return True
    return actor.has("country") and country is not None and country == actor.country


def sees_internal(actor: Actor) -> bool:
    """Whether the actor may read `x-visibility: internal` fields (staff only)."""
    return actor.has(*STAFF_ROLES)


def visible_instance(session: Session, actor: Actor, instance_id: int) -> Instance:
    """The instance if the actor may see it; `NotFound` for a missing one and for another
    country's, alike."""
    instance = session.get(Instance, instance_id)
    if instance is None or not may_see_instance(actor, instance):
        raise NotFound(f"Instance {instance_id} does not exist.", instance_id=instance_id)
    return instance


def visible_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    """The task row if the actor may see its country; `NotFound` otherwise (another country's
    task answers exactly as a missing one)."""
    ht = session.get(HumanTask, task_id)
    if ht is None or not may_see_country(actor, ht.country):
        raise NotFound(f"Task {task_id} does not exist.")
    return ht


# -- act ---------------------------------------------------------------------------------------


def may_act_in_lane(actor: Actor, lane: str | None, lane_roles: Mapping[str, str]) -> bool:
    """Admins act anywhere; tasks without a lane belong to anyone who may see the instance."""
    if actor.is_admin:
        return True
    if actor.has("auditor"):
        return False  # auditors read everything and change nothing
    role = role_for_lane(lane, lane_roles)
    return role is None or role in actor.roles


_HELD = "pathfinder.held_rows"


def lane_roles_of(session: Session, process_key: str) -> Mapping[str, str]:
    """The process model's lane → role mapping (empty when the model has none)."""
    model = session.get(ProcessModel, process_key)
    # Held for the rest of the transaction (the session keeps rows only while referenced), so
    # the mail queued for the next task finds the lane roles without reading them again.
    session.info.setdefault(_HELD, []).append(model)
    return model.lane_roles if model else {}


def check_may_act(session: Session, actor: Actor, ht: HumanTask) -> None:
    """Refuse when the actor may not act on the task: `NotFound` for another country's task
    (as if it did not exist), `Forbidden` for a lane the actor's roles do not cover."""
    if not may_see_country(actor, ht.country):
        raise NotFound(f"Task {ht.id} does not exist.", task_id=ht.id)
    if not may_act_in_lane(actor, ht.lane, lane_roles_of(session, ht.process_key)):
        raise Forbidden(f"Only the '{ht.lane}' lane's role may act on this task.", task_id=ht.id)


def may_act_for_others(actor: Actor) -> bool:
    """Whether the actor may work on, assign or release a task someone else holds."""
    return actor.has(*MANAGER_ROLES)


def may_take_over(actor: Actor) -> bool:
    """Whether the actor may take over a task a colleague holds (with a reason)."""
    return actor.has(*TAKE_OVER_ROLES)


def assignable_users(session: Session, ht: HumanTask) -> list[User]:
    """Active users who may be given the task (the Secretariat's assign list), by username."""
    role = role_for_lane(ht.lane, lane_roles_of(session, ht.process_key))
    users = session.execute(select(User).where(User.active.is_(True)).order_by(User.username))
    return [u for u in users.scalars() if may_be_assigned(u, role, ht.country)]


def may_be_assigned(person: Person, role: str | None, country: str | None) -> bool:
    """Whether a person may be given a task of lane role `role` in `country`: they hold the
    role (any role for a task without a lane), and a country user only their own country."""
    roles = list(person.roles or [])
    return (role is None or role in roles) and (
        country is None or "country" not in roles or person.country == country
    )


# -- start and manage --------------------------------------------------------------------------


def may_start(actor: Actor, start_roles: Iterable[str]) -> bool:
    """Admins and process owners may start anything; others where the model allows their role."""
    return actor.has("admin", "process_owner") or bool(actor.roles.intersection(start_roles))


def may_manage_instances(actor: Actor) -> bool:
    """Whether the actor may suspend, resume, cancel or retry instances."""
    return actor.has(*MANAGER_ROLES)


def may_change_roles(actor_username: str, username: str, roles: Iterable[str]) -> bool:
    """An admin may give anyone any roles, but not take the admin role from themselves."""
    return actor_username != username or "admin" in roles


def may_change_active(actor_username: str, username: str, active: bool) -> bool:
    """An admin may activate anyone and deactivate anyone but themselves (so one admin always
    remains able to sign in)."""
    return active or actor_username != username


# -- administer --------------------------------------------------------------------------------


def may_administer(actor: Actor) -> bool:
    """Whether the actor manages accounts, others' API tokens, claim mappings and the outbox."""
    return actor.has(*ADMIN_ROLES)


def may_own_models(actor: Actor) -> bool:
    """Whether the actor edits, deploys, migrates and simulates process models and sets lane
    roles."""
    return actor.has(*MODEL_OWNER_ROLES)


def check_may_administer(actor: Actor) -> None:
    """Refuse (`Forbidden`) unless the actor may administer people."""
    if not may_administer(actor):
        raise Forbidden("Only admins manage accounts, tokens and sign-in mappings.")


def check_may_own_models(actor: Actor) -> None:
    """Refuse (`Forbidden`) unless the actor owns process models."""
    if not may_own_models(actor):
        raise Forbidden("Only process owners and admins change process models.")
