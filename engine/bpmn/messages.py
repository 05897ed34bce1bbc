"""Who may send which BPMN message to an instance, and what its payload may carry.

A message's catch event declares both in its SpiffWorkflow properties (the modeller's
"Extensions" panel):

- ``messagePayload``: the payload fields the message may carry, separated by spaces or commas
  (e.g. ``reason``). Any other field is refused, so a message can never overwrite instance
  variables the model did not hand to it. Without the property, a message carries no payload.
- ``messageSenders``: the roles that may send it (e.g. ``secretariat admin``). Without the
  property only admins and the Secretariat may, never a country's focal point.
- ``messageRequired``: payload fields that must be given and not blank (e.g. ``reason``).

The API and the web's confirmation page both go through `waiting_message` and `check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.errors import EngineError, Forbidden
from engine.people.access import Actor

__all__ = [
    "DEFAULT_SENDERS",
    "MessageRefused",
    "MessageRule",
    "check",
    "waiting_message",
    "waiting_messages",
]

DEFAULT_SENDERS = frozenset({"admin", "secretariat"})
"""Roles that may send a message whose catch event does not say."""

_SEPARATORS = re.compile(r"[\s,]+")


class MessageRefused(EngineError):
    """The payload carries a field the model does not declare for the message."""

    http_status = 400
    title = "Message refused"


@dataclass(frozen=True)
class MessageRule:
    """What the model declares for one message its instance is waiting for."""

    name: str
    """The message name (`bpmn:message/@name`), e.g. ``withdrawal``."""
    element_id: str | None
    """The catch event waiting for it."""
    element_name: str | None
    """That event's name as shown in the diagram."""
    fields: frozenset[str]
    """Payload fields the message may carry."""
    required: frozenset[str]
    """Payload fields it must carry, not blank."""
    senders: frozenset[str]
    """Roles that may send it."""
    definition: Any
    """SpiffWorkflow's event definition to deliver it with."""

    def may_send(self, actor: Actor) -> bool:
        """Whether the actor holds a role allowed to send this message."""
        return actor.has(*sorted(self.senders))


def _split(text: str | None) -> frozenset[str]:
    return frozenset(part for part in _SEPARATORS.split(text or "") if part)


def _catchers(task: Any) -> list[tuple[Any, Any]]:
    """(event definition, spec declaring it) for each message `task` waits for. An event-based
    gateway holds its events' definitions itself (SpiffWorkflow moves them there), in the order
    of its outgoing flows; the properties stay on the catch event after it."""
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, MessageEventDefinition):
        return [(definition, spec)]
    if isinstance(definition, MultipleEventDefinition) and not getattr(
        definition, "parallel", False
    ):
        targets = list(getattr(spec, "outputs", []) or [])
        return [
            (d, targets[i] if i < len(targets) else spec)
            for i, d in enumerate(definition.event_definitions)
            if isinstance(d, MessageEventDefinition)
        ]
    return []


def waiting_messages(wf: BpmnWorkflow) -> list[MessageRule]:
    """The rules of every message a waiting event of `wf` catches, one per message name."""
    rules: dict[str, MessageRule] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        for definition, spec in _catchers(task):
            name = getattr(definition, "name", None)
            if not name or name in rules:
                continue
            extensions = getattr(spec, "extensions", None) or {}
            props = extensions.get("properties") or {}
            senders = _split(props.get("messageSenders")) if "messageSenders" in props else None
            rules[name] = MessageRule(
                name=name,
                element_id=getattr(spec, "bpmn_id", None),
                element_name=getattr(spec, "bpmn_name", None),
                fields=_split(props.get("messagePayload")),
                required=_split(props.get("messageRequired")),
                senders=senders if senders is not None else DEFAULT_SENDERS,
                definition=type(definition)(name),
            )
    return list(rules.values())


def waiting_message(wf: BpmnWorkflow, name: str) -> MessageRule | None:
    """The rule of the message `name` if a waiting event of `wf` catches it, else None."""
    return next((rule for rule in waiting_messages(wf) if rule.name == name), None)


def check(rule: MessageRule, actor: Actor, payload: Mapping[str, Any]) -> None:
    """Refuse a sender without the role, or a payload field the model does not declare."""
    if not rule.may_send(actor):
        roles = ", ".join(sorted(rule.senders))
        raise Forbidden(
            f"Your roles do not allow sending the message '{rule.name}' (it is for: {roles}).",
            message_name=rule.name,
        )
    missing = sorted(f for f in rule.required if not str(payload.get(f) or "").strip())
    if missing:
        raise MessageRefused(
            f"The message '{rule.name}' needs the field '{missing[0]}'; give it and send again.",
            message_name=rule.name,
            field=missing[0],
            fields=missing,
        )
    extra = sorted(set(payload) - rule.fields)
    if extra:
        allowed = ", ".join(sorted(rule.fields)) or "none"
        raise MessageRefused(
            f"The message '{rule.name}' may not carry the field '{extra[0]}'. "
            f"Fields it may carry: {allowed}.",
            message_name=rule.name,
            field=extra[0],
            fields=extra,
        )
