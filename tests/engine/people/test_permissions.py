"""engine/permissions.py: every "may this actor see / act / start / assign / manage" answer."""

from __future__ import annotations

import pytest

from engine import Actor, Engine, Forbidden, NotFound
from engine.core import transaction
from engine.people import permissions
from engine.people.accounts import create_user, set_active, update_user
from engine.store.models import HumanTask
from tests.fixtures.bpmn_files import bpmn, flow, user_task


def _country_task(engine: Engine, country: str) -> HumanTask:
    xml = bpmn(
        "p",
        '<bpmn:startEvent id="s"/>'
        + user_task("t", "Fill in")
        + '<bpmn:endEvent id="e"/>'
        + flow("f1", "s", "t")
        + flow("f2", "t", "e"),
    )
    engine.deploy({"p.bpmn": xml})
    instance = engine.start("p", {"country": country})
    [task] = engine.ready_tasks(instance.id)
    return task


def test_a_kenyan_focal_point_cannot_see_a_nepal_task(
    engine: Engine, actors: dict[str, Actor]
) -> None:
    task = _country_task(engine, "NPL")
    with engine.session() as s:
        assert permissions.visible_task(s, actors["country"], task.id).id == task.id
        with pytest.raises(NotFound):  # 404, exactly like a task that does not exist
            permissions.visible_task(s, actors["other_country"], task.id)
        with pytest.raises(NotFound):
            permissions.visible_instance(s, actors["other_country"], task.instance_id)
        with pytest.raises(NotFound):
            permissions.check_may_act(s, actors["other_country"], task)
        with pytest.raises(Forbidden):  # auditors read and never act
            permissions.check_may_act(s, actors["auditor"], task)


def test_roles_that_see_manage_and_take_over(actors: dict[str, Actor]) -> None:
    assert permissions.may_see_country(actors["chair"], "KEN")
    assert not permissions.may_see_country(actors["country"], "KEN")
    assert [r for r, a in actors.items() if permissions.may_manage_instances(a)] == [
        "admin",
        "secretariat",
    ]
    assert permissions.may_take_over(actors["secretariat"])
    assert not permissions.may_take_over(actors["chair"])
    assert permissions.sees_internal(actors["auditor"])
    assert not permissions.sees_internal(actors["country"])
    assert permissions.may_start(actors["country"], ["country"])
    assert not permissions.may_start(actors["chair"], ["country"])
    assert permissions.may_start(actors["owner"], [])


def test_assign_list_keeps_country_users_to_their_own_country(engine: Engine) -> None:
    task = _country_task(engine, "NPL")
    with transaction(engine.sessions) as s:
        for name, roles, country in [
            ("nima", ["country"], "NPL"),
            ("kofi", ["country"], "KEN"),
            ("sam", ["secretariat"], None),
        ]:
            create_user(s, name, "a-password-1", roles, country=country, now=engine.now())
    with engine.session() as s:
        names = [u.username for u in permissions.assignable_users(s, task)]
    assert names == ["nima", "sam"]  # a lane-less task: anyone who may see it, not Kenya


def test_the_engine_refuses_an_admin_locking_themselves_out(engine: Engine) -> None:
    with transaction(engine.sessions) as s:
        ada = create_user(s, "ada", "a-password-1", ["admin"], now=engine.now())
        ada_id = ada.id
    with pytest.raises(Forbidden), transaction(engine.sessions) as s:
        set_active(s, ada_id, False, actor="ada", now=engine.now())
    with pytest.raises(Exception, match="could not be saved"), transaction(engine.sessions) as s:
        update_user(
            s,
            ada_id,
            actor="ada",
            now=engine.now(),
            roles=["secretariat"],
            country=None,
            email=None,
            display_name=None,
        )
    with transaction(engine.sessions) as s:  # another admin may
        set_active(s, ada_id, False, actor="root", now=engine.now())
