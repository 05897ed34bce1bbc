"""`/instances`: start, list, inspect and manage process instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from web.api.auth import current_actor, get_engine
from web.api.blueprint import ID, ApiBlueprint
from web.api.errors import not_found
from web.api.representations import instance_document, instance_or_404, instance_summary
from web.api.schemas import (
    InstanceDetailSchema,
    InstancePageSchema,
    InstanceQuerySchema,
    MessageSchema,
    ReasonSchema,
    StartInstanceSchema,
)

blp = ApiBlueprint(
    "instances", __name__, url_prefix="/instances", description="Process instances (cases)."
)


def instance_response(instance_id: int) -> dict[str, Any]:
    """The instance as it is now (after an engine call, read back in a fresh session)."""
    me = current_actor()
    return instance_document(
        instance_or_404(instance_id, lambda: get_engine().instances.detail(me, instance_id))
    )


def _check_visible(instance_id: int) -> None:
    me = current_actor()
    instance_or_404(instance_id, lambda: get_engine().instances.visible(me, instance_id))


@blp.route("")
@blp.arguments(InstanceQuerySchema, location="query")
@blp.response(200, InstancePageSchema)
def list_instances(args: dict[str, Any]) -> dict[str, Any]:
    """Instances you may see, most recently active first (paginated)

    Country users see their own country's instances only.
    """
    page = get_engine().instances.listing(current_actor(), **args)
    return {
        "items": [instance_summary(row) for row in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


@blp.route("", methods=["POST"])
@blp.arguments(StartInstanceSchema)
@blp.response(201, InstanceDetailSchema)
@blp.problems(403, 404, 409, 422)
def start_instance(args: dict[str, Any]) -> dict[str, Any]:
    """Start an instance

    Who may start a process is set by the model (its start lane); country users only for their
    own country. 409 if the country already has an active instance of the process.
    """
    instance_id, shown = get_engine().instances.start_and_show(
        args["process_key"], args["data"], current_actor(), args.get("version")
    )
    if shown is None:  # started, but not the caller's to see (as its read-back answered)
        raise not_found(_("Instance %(instance_id)s does not exist.", instance_id=instance_id))
    return instance_document(shown)  # from memory: no second read


@blp.route(f"/<{ID}:instance_id>")
@blp.response(200, InstanceDetailSchema)
@blp.alt_response(404, response="Problem404")
def get_instance(instance_id: int) -> dict[str, Any]:
    """An instance: status, version, data and open tasks"""
    return instance_response(instance_id)


def _manage(instance_id: int, action: Callable[..., object], *args: Any) -> dict[str, Any]:
    _check_visible(instance_id)
    action(instance_id, current_actor(), *args)
    return instance_response(instance_id)


_MANAGE_DOC = (
    "Admins and the Secretariat only; 409 if the instance is not in a state that allows it."
)


@blp.route(f"/<{ID}:instance_id>/suspend", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, InstanceDetailSchema)
@blp.problems(403, 404, 409)
@blp.doc(description=_MANAGE_DOC)
def suspend_instance(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Suspend a running instance (timers and tasks wait)"""
    return _manage(instance_id, get_engine().instances.suspend, args["reason"])


@blp.route(f"/<{ID}:instance_id>/resume", methods=["POST"])
@blp.response(200, InstanceDetailSchema)
@blp.problems(403, 404, 409)
@blp.doc(description=_MANAGE_DOC)
def resume_instance(instance_id: int) -> dict[str, Any]:
    """Resume a suspended instance"""
    return _manage(instance_id, get_engine().instances.resume)


@blp.route(f"/<{ID}:instance_id>/cancel", methods=["POST"])
@blp.arguments(ReasonSchema)
@blp.response(200, InstanceDetailSchema)
@blp.problems(403, 404, 409, 422)
@blp.doc(description=_MANAGE_DOC)
def cancel_instance(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Cancel an instance for good"""
    return _manage(instance_id, get_engine().instances.cancel, args["reason"])


@blp.route(f"/<{ID}:instance_id>/retry", methods=["POST"])
@blp.response(200, InstanceDetailSchema)
@blp.problems(403, 404, 409)
@blp.doc(description=_MANAGE_DOC)
def retry_instance(instance_id: int) -> dict[str, Any]:
    """Retry an instance in error (after fixing its cause)"""
    return _manage(instance_id, get_engine().instances.retry)


@blp.route(f"/<{ID}:instance_id>/messages", methods=["POST"])
@blp.arguments(MessageSchema)
@blp.response(200, InstanceDetailSchema)
@blp.problems(400, 403, 404, 409)
def send_message(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Deliver a BPMN message the instance waits for (e.g. a withdrawal)"""
    _check_visible(instance_id)
    get_engine().instances.send_message(instance_id, args["name"], args["payload"], current_actor())
    return instance_response(instance_id)
