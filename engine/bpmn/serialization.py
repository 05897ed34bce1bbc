"""SpiffWorkflow serialization: the spec once per model version, the state alone per instance."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from functools import cache
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.runtime.archive import PRUNE_ABOVE, merging_joins, prune_state

Specs = tuple[Any, dict[str, Any]]
"""A top-level process spec and the specs of the processes it calls."""


@cache
def serializer(dialect: str) -> BpmnWorkflowSerializer:
    """The serializer for a parser dialect (`spiff` or `camunda`)."""
    config = CAMUNDA_CONFIG if dialect == "camunda" else SPIFF_CONFIG
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


def dump_spec(dialect: str, spec: Any, subprocess_specs: dict[str, Any]) -> str:
    """Serialize a process spec and its called specs (stored once per version)."""
    ser = serializer(dialect)
    return json.dumps(
        {
            "spec": ser.to_dict(spec),
            "subprocess_specs": {k: ser.to_dict(v) for k, v in subprocess_specs.items()},
        }
    )


def load_spec(dialect: str, spec_json: str) -> Specs:
    """Restore what `dump_spec` wrote."""
    ser = serializer(dialect)
    dct = json.loads(spec_json)
    subs = {k: ser.from_dict(v) for k, v in dct["subprocess_specs"].items()}
    return ser.from_dict(dct["spec"]), subs


def dump_state(
    dialect: str, workflow: BpmnWorkflow, *, prune_above: int | None = PRUNE_ABOVE
) -> str:
    """Serialize an instance's state without its spec (re-attached on load).

    Finished history is pruned from task trees larger than `prune_above` tasks (see
    `engine.archive`; the audit trail keeps it); `None` stores the whole tree.
    """
    ser = serializer(dialect)
    dct = ser.to_dict(workflow)
    if prune_above is not None:
        prune_state(dct, prune_above, merging_joins(workflow))
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    dct[ser.VERSION_KEY] = ser.VERSION
    return json.dumps(dct, separators=(",", ":"))


def load_state(dialect: str, state_json: str, specs: Specs) -> BpmnWorkflow:
    """Restore an instance's workflow, attaching the live spec objects of its version.

    `DictionaryConverter.restore` passes non-dict values through unchanged, so the cached spec
    objects can stand where the serialized specs would be (covered by tests/engine).
    """
    ser = serializer(dialect)
    dct = json.loads(state_json)
    version = dct.pop(ser.VERSION_KEY, ser.VERSION)
    if version in MIGRATIONS:
        MIGRATIONS[version](dct)
    dct["spec"], dct["subprocess_specs"] = specs[0], dict(specs[1])
    workflow: BpmnWorkflow = ser.from_dict(dct)
    return workflow


class SpecCache:
    """Parsed specs per process version id, least recently used evicted first."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[int, Specs] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int, dialect: str, spec_json: str) -> Specs:
        """The parsed specs of a process version, parsed once per version."""
        with self._lock:
            if version_id in self._items:
                self._items.move_to_end(version_id)
                return self._items[version_id]
        specs = load_spec(dialect, spec_json)
        with self._lock:
            self._items[version_id] = specs
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return specs
