"""Pruning finished history out of a serialized workflow state, so long-lived instances stay cheap.

SpiffWorkflow keeps every finished task of every loop iteration in its task tree, and loading,
running and saving all walk the whole tree: a review cycle that has run 200 times costs several
times a fresh one on every step. What happened is already in the audit trail (`history.py`), so
the stored state only needs what can still matter for what happens next.

For each task tree (the process and each subprocess) that holds more than `PRUNE_ABOVE` tasks:
find the deepest completed task (the cut) whose subtree holds every unfinished task (READY,
WAITING, FUTURE, predicted or in ERROR). Its subtree stays exactly as it was. Above it, only the
root and the newest ancestor of each task spec stay, relinked in their old order (SpiffWorkflow
walks up to the nearest ancestor of a spec: a parallel gateway in a loop looks for its first
input); older repeats and every finished side branch go, with the subprocesses those tasks
owned. So the tree is bounded by the model's size, not by its age. A tree is left whole when
that would drop an earlier run of a parallel or inclusive join (see `merging_joins`). Each task's
data is rewritten as the serializer would write it under its new parent. Works on the
serializer's dict, so the live workflow is never changed; pruning a pruned state changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

PRUNE_ABOVE = 64
"""A task tree is pruned once it holds more tasks than this; smaller trees are stored whole."""

_DONE = TaskState.COMPLETED | TaskState.CANCELLED
"""Finished for good. ERROR is not: `retry` sets errored tasks back to READY."""


def prune_state(
    state: dict[str, Any], above: int = PRUNE_ABOVE, keep_specs: Collection[str] = ()
) -> int:
    """Prune a serialized top-level workflow (`BpmnWorkflowSerializer.to_dict`) in place.

    A tree is left whole when pruning would drop a task of a spec in `keep_specs`. Returns how
    many tasks were dropped, subprocess tasks included.
    """
    keep = frozenset(keep_specs)
    subprocesses: dict[str, dict[str, Any]] = state.get("subprocesses") or {}
    dropped_ids: set[str] = set(_prune_tree(state, above, keep))
    for sub in subprocesses.values():
        dropped_ids.update(_prune_tree(sub, above, keep))
    dropped = len(dropped_ids)
    # Subprocesses owned by dropped tasks go too, and with them their own subprocesses.
    orphans = [key for key in subprocesses if key in dropped_ids]
    while orphans:
        key = orphans.pop()
        sub = subprocesses.pop(key)
        dropped += len(sub.get("tasks") or {})
        orphans += [k for k in subprocesses if k in sub.get("tasks", {}) and k not in orphans]
    return dropped


def _prune_tree(tree: dict[str, Any], above: int, keep_specs: frozenset[str]) -> set[str]:
    """Prune one task tree (`tasks`, `root`, `last_task`) in place; return the dropped ids."""
    tasks: dict[str, dict[str, Any]] = tree.get("tasks") or {}
    if len(tasks) <= above:
        return set()
    path = _common_path(tasks)
    while path and not tasks[path[-1]]["state"] & TaskState.COMPLETED:
        path.pop()  # the cut must sit on a final task: its data never changes again
    if len(path) < 2:
        return set()
    chain = _ancestors_to_keep(tasks, path)
    keep = _subtree(tasks, path[-1]) | set(chain)
    dropped = set(tasks) - keep
    if not dropped or any(tasks[t]["task_spec"] in keep_specs for t in dropped):
        return set()
    full = _materialized_data(tasks, path, set(chain))
    for task_id in dropped:
        del tasks[task_id]
    for parent, child in zip(chain, chain[1:], strict=False):
        tasks[parent]["children"] = [child]
        tasks[child]["parent"] = parent
        _store_data(tasks[child], full[parent], full[child])
    if tree.get("last_task") in dropped:
        tree["last_task"] = path[-1]
    return dropped


def _ancestors_to_keep(tasks: dict[str, dict[str, Any]], path: list[str]) -> list[str]:
    """The root, the newest ancestor of each task spec, and the cut itself, in path order.

    SpiffWorkflow finds a task's nearest ancestor of a given spec (a parallel gateway in a loop
    walks up to its first input, possibly the start event; `find_ancestor` does the same), so
    each spec's newest ancestor must stay, and in the same order; older repeats may go.
    """
    newest = {tasks[task_id]["task_spec"]: i for i, task_id in enumerate(path[:-1])}
    return [path[i] for i in sorted({0, *newest.values()})] + [path[-1]]


def _store_data(task: dict[str, Any], parent_data: Any, data: Any) -> None:
    """Write `data` the way the serializer would under a parent holding `parent_data`."""
    if "delta" in task:
        task["data"] = {}
        task["delta"] = {
            "updates": DeepMerge.get_updated_keys(parent_data, data),
            "deletions": DeepMerge.get_deleted_keys(parent_data, data),
        }
    else:
        task["data"] = data


def _ancestry(tasks: dict[str, dict[str, Any]], task_id: str) -> list[str]:
    """Ids from the root down to `task_id`."""
    out = []
    current: str | None = task_id
    while current is not None and current in tasks:
        out.append(current)
        current = tasks[current]["parent"]
    return out[::-1]


def _common_path(tasks: dict[str, dict[str, Any]]) -> list[str]:
    """The path from the root to the deepest task whose subtree holds every unfinished task."""
    unfinished = [tid for tid, t in tasks.items() if not t["state"] & _DONE]
    if not unfinished:
        return []  # a finished workflow: nothing will run again, nothing worth pruning
    common = _ancestry(tasks, unfinished[0])
    for task_id in unfinished[1:]:
        ancestors = set(_ancestry(tasks, task_id))
        cut = 0
        while cut < len(common) and common[cut] in ancestors:
            cut += 1
        del common[cut:]
    return common


def _subtree(tasks: dict[str, dict[str, Any]], root: str) -> set[str]:
    keep, todo = set(), [root]
    while todo:
        task_id = todo.pop()
        keep.add(task_id)
        todo += [c for c in tasks[task_id]["children"] if c in tasks]
    return keep


def _materialized_data(
    tasks: dict[str, dict[str, Any]], path: list[str], wanted: set[str]
) -> dict[str, Any]:
    """The full data of the `wanted` tasks of `path`, replaying the serializer's per-task deltas
    (SpiffWorkflow 3.2 stores a child's data as updates and deletions against its parent's)."""
    data: Any = copy.deepcopy(tasks[path[0]]["data"])
    out = {path[0]: data}
    for task_id in path[1:]:
        delta = tasks[task_id].get("delta")
        if delta:
            data = {**data, **delta.get("updates", {})}
            for key in delta.get("deletions") or ():
                data.pop(key, None)
        else:
            data = dict(tasks[task_id]["data"])
        if task_id in wanted:
            out[task_id] = copy.deepcopy(data)
    return out


def merging_joins(workflow: Any) -> set[str]:
    """Names of the parallel and inclusive gateway joins of a workflow's specs.

    When such a join runs, SpiffWorkflow merges the data of every earlier finished run of the
    same join still in the tree (`UnstructuredJoin._run_hook`), so in a loop whose branches write
    the same keys, dropping old runs would change the merged data. Trees holding them stay whole.
    """
    specs = [workflow.spec, *getattr(workflow, "subprocess_specs", {}).values()]
    return {
        name
        for spec in specs
        for name, task_spec in spec.task_specs.items()
        if isinstance(task_spec, UnstructuredJoin)
    }
