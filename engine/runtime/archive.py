"""Pruning finished history out of a serialized workflow state, so long-lived instances stay cheap.

SpiffWorkflow keeps every finished task of every loop iteration in its task tree, and loading,
running and saving all walk the whole tree: a review cycle that has run 200 times costs several
times a fresh one on every step. What happened is already in the audit trail (`history.py`), so
the stored state only needs what can still matter for what happens next.

For each task tree (the process and each subprocess) that holds more than `PRUNE_ABOVE` tasks:
find the deepest completed task (the cut) whose subtree holds every unfinished task (READY,
WAITING, FUTURE, predicted or in ERROR). Above it, only the root and the newest ancestor of each
task spec stay, relinked in their old order (SpiffWorkflow walks up to the nearest ancestor of a
spec: a parallel gateway in a loop looks for its first input); older repeats and every finished
side branch go, with the subprocesses those tasks owned. Below the cut, each child branch that
holds unfinished tasks is pruned the same way within itself (its own cut, its root, the newest
ancestor of each spec between them), and so on down: parallel branches that loop for ever (the
pathfinder's support records and annual reviews) are pruned one by one. Finished side branches
hanging off a cut stay. So the tree is bounded by the model's size, not by its age.

A run of a parallel or inclusive join (`merging_joins`) is only dropped when every unfinished task
that can reach that join descends from it: SpiffWorkflow's later runs of the join look at every
earlier finished run that is not their ancestor (counting its inputs, merging its data), so any
other run stays, and the level that would drop it is left whole (see `_may_drop`). Each task's
data is rewritten as the serializer would write it under its new parent. Works on the
serializer's dict, so the live workflow is never changed; pruning a pruned state changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

PRUNE_ABOVE = 64
"""A task tree is pruned once it holds more tasks than this; smaller trees are stored whole."""

_DONE = TaskState.COMPLETED | TaskState.CANCELLED
"""Finished for good. ERROR is not: `retry` sets errored tasks back to READY."""


def prune_state(
    state: dict[str, Any],
    above: int = PRUNE_ABOVE,
    keep_specs: Collection[str] | Mapping[str, Collection[str] | None] = (),
) -> int:
    """Prune a serialized top-level workflow (`BpmnWorkflowSerializer.to_dict`) in place.

    `keep_specs` names the merging joins (`merging_joins`). A run of one may only be dropped when
    every unfinished task that could lead to a later run descends from it (then SpiffWorkflow
    ignores it anyway); otherwise the branch, or at the top the whole tree, is left whole. Given
    as a mapping, each join maps to the names of the task specs from which it can be reached
    (`None`: not known, so no run of it is ever dropped); plain names count as `None`.
    Returns how many tasks were dropped, subprocess tasks included.
    """
    keep: dict[str, frozenset[str] | None] = (
        {k: (None if v is None else frozenset(v)) for k, v in keep_specs.items()}
        if isinstance(keep_specs, Mapping)
        else dict.fromkeys(keep_specs)
    )
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


def _prune_tree(
    tree: dict[str, Any], above: int, keep_specs: dict[str, frozenset[str] | None]
) -> set[str]:
    """Prune one task tree (`tasks`, `root`, `last_task`) in place; return the dropped ids.

    First the whole tree around its cut (the deepest completed task above every unfinished task),
    then, below each cut, every child branch holding unfinished tasks the same way within itself.
    """
    tasks: dict[str, dict[str, Any]] = tree.get("tasks") or {}
    if len(tasks) <= above:
        return set()
    unfinished = [tid for tid, t in tasks.items() if not t["state"] & _DONE]
    if not unfinished:
        return set()  # a finished workflow: nothing will run again, nothing worth pruning
    # Who descends from whom in the tree as stored; pruning keeps every unfinished task's
    # relation to the tasks that stay.
    lineage = {tid: set(_ancestry(tasks, tid)) for tid in unfinished}
    root = _ancestry(tasks, unfinished[0])[0]
    dropped: set[str] = set()
    branches = [root]
    while branches:
        top = branches.pop()
        inside = [tid for tid in unfinished if top in lineage[tid]]
        path = _common_path(tasks, inside, top)
        while path and not tasks[path[-1]]["state"] & TaskState.COMPLETED:
            path.pop()  # the cut must sit on a final task: its data never changes again
        if not path:
            continue  # an unfinished task above the rest of the branch: leave the branch as is
        cut = path[-1]
        chain = _ancestors_to_keep(tasks, path)
        gone = _subtree(tasks, top) - _subtree(tasks, cut) - set(chain)
        if gone and _may_drop(tasks, gone, unfinished, lineage, keep_specs):
            full = _materialized_data(tasks, _ancestry(tasks, cut), set(chain))
            for task_id in gone:
                del tasks[task_id]
            for parent, child in zip(chain, chain[1:], strict=False):
                tasks[parent]["children"] = [child]
                tasks[child]["parent"] = parent
                _store_data(tasks[child], full[parent], full[child])
            if tree.get("last_task") in gone:
                tree["last_task"] = cut
            dropped |= gone
        branches += [
            child
            for child in tasks[cut]["children"]
            if child in tasks and any(child in lineage[tid] for tid in inside)
        ]
    return dropped


def _may_drop(
    tasks: dict[str, dict[str, Any]],
    gone: set[str],
    unfinished: list[str],
    lineage: dict[str, set[str]],
    keep_specs: dict[str, frozenset[str] | None],
) -> bool:
    """Whether dropping `gone` leaves every later run of a merging join as it would have been.

    A join's run looks at every finished earlier run of it that is not its own ancestor
    (`UnstructuredJoin._run_hook`, `ParallelGateway._check_threshold_unstructured`). Later runs
    grow out of unfinished tasks, so an earlier run that is an ancestor of every unfinished task
    able to reach the join is ignored by all of them, kept or not; any other run must stay.
    """
    for task_id in gone:
        spec = tasks[task_id]["task_spec"]
        if spec not in keep_specs:
            continue
        reach = keep_specs[spec]
        if reach is None:
            return False
        for tid in unfinished:
            if tasks[tid]["task_spec"] in reach and task_id not in lineage[tid]:
                return False
    return True


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


def _common_path(tasks: dict[str, dict[str, Any]], unfinished: list[str], top: str) -> list[str]:
    """The path from `top` to the deepest task whose subtree holds every task of `unfinished`
    (all below `top`)."""
    if not unfinished:
        return []
    common = _ancestry(tasks, unfinished[0])
    common = common[common.index(top) :]
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


def merging_joins(workflow: Any) -> dict[str, frozenset[str] | None]:
    """The parallel and inclusive gateway joins of a workflow's specs, each with the names of the
    task specs from which a later run of it can be reached (`None` when that is not known).

    When such a join runs, SpiffWorkflow looks at every earlier finished run of the same join
    that is not its ancestor: it counts their inputs as arrived and merges their data
    (`ParallelGateway._check_threshold_unstructured`, `UnstructuredJoin._run_hook`), so dropping
    such a run would change what happens. `prune_state` keeps them (see `_may_drop`).

    New tasks grow out of unfinished tasks along `outputs` (and into a loop's or multi-instance
    task's inner task), except the branches a process starts under its root by itself (event
    subprocesses `start.trigger_specs`, ad hoc `conditional_paths`): a join reachable from those
    may run again anywhere, so it maps to `None`. Names are merged over all specs of the workflow,
    which only makes the reach larger.
    """
    specs = [workflow.spec, *getattr(workflow, "subprocess_specs", {}).values()]
    out: dict[str, frozenset[str] | None] = {}
    for spec in specs:
        before: dict[str, set[str]] = {name: set() for name in spec.task_specs}
        for name, task_spec in spec.task_specs.items():
            inner = getattr(task_spec, "task_spec", None)
            nexts = [o.name for o in task_spec.outputs]
            if isinstance(inner, str) and inner in spec.task_specs:
                nexts.append(inner)
            for nxt in nexts:
                before.setdefault(nxt, set()).add(name)
        start = getattr(spec, "start", None)
        spawned = {
            *getattr(start, "trigger_specs", ()),
            *(t.name for t in getattr(spec, "conditional_paths", ())),
        }
        for name, task_spec in spec.task_specs.items():
            if not isinstance(task_spec, UnstructuredJoin):
                continue
            reach, todo = {name}, [name]
            while todo:
                for prev in before.get(todo.pop(), ()):
                    if prev not in reach:
                        reach.add(prev)
                        todo.append(prev)
            if name in out and out[name] is None or reach & spawned:
                out[name] = None
            else:
                out[name] = frozenset(reach | (out.get(name) or frozenset()))
    return out
