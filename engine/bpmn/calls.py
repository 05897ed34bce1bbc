"""Which problems make a process view-only, and how that spreads along call activities.

A process with a view-only reason (not executable, an unsupported element, a recursive call...)
is stored but never started; a process that calls one cannot be started either. The call graph
also gives the order in which SpiffWorkflow builds the specs: callees first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from engine.bpmn.xmlsafe import (
    NSMAP,
    Problem,
)

VIEW_ONLY_CODES = frozenset(
    {
        "non-executable",
        "unsupported-element",
        "unsupported-expression",
        "timer-expression",
        "timer-cron",
        "timer-empty",
        "data-store",
        "recursive-call",
        "called-process-not-executable",
    }
)
"""Problems that make a process view-only instead of refusing the bundle."""


def _blocking(problem: Problem) -> bool:
    return problem.severity == "error" and problem.code not in VIEW_ONLY_CODES


def _view_only(problems: Iterable[Problem]) -> Problem | None:
    reasons = [p for p in problems if p.severity == "error" and p.code in VIEW_ONLY_CODES]
    first = [p for p in reasons if p.code == "non-executable"] or reasons
    return first[0] if first else None


def _calls(process: etree._Element) -> list[tuple[etree._Element, str]]:
    found = process.xpath(".//bpmn:callActivity[@calledElement]", namespaces=NSMAP)
    return [(call, call.get("calledElement")) for call in found]


def _reaches(calls: Mapping[str, list[tuple[etree._Element, str]]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            todo += [callee for _, callee in calls.get(current, [])]
    return False


def _mark_recursion(
    calls: Mapping[str, list[tuple[etree._Element, str]]],
    found: dict[str, list[Problem]],
    files: Mapping[str, str],
) -> None:
    for pid, edges in calls.items():
        for call, callee in edges:
            if callee in calls and _reaches(calls, callee, pid):
                message = (
                    f"It calls '{callee}', which leads back to this process ('{pid}'): it would "
                    "call itself without end. Break the cycle."
                )
                found[pid].append(_problem_at(call, files[pid], message, "recursive-call"))


def _propagate(
    calls: Mapping[str, list[tuple[etree._Element, str]]],
    found: dict[str, list[Problem]],
    files: Mapping[str, str],
) -> None:
    """A process that calls one that cannot be started cannot be started either."""
    changed = True
    while changed:
        changed = False
        for pid, edges in calls.items():
            if _view_only(found[pid]):
                continue
            for call, callee in edges:
                reason = _view_only(found.get(callee, []))
                if reason is not None:
                    message = f"It calls '{callee}', which cannot be started: {reason.message}"
                    code = "called-process-not-executable"
                    found[pid].append(_problem_at(call, files[pid], message, code))
                    changed = True
                    break


def _problem_at(element: etree._Element, file: str, message: str, code: str) -> Problem:
    return Problem(
        message, element.get("id"), element.get("name"), file, element.sourceline, code=code
    )


def _callee_first(calls: Mapping[str, list[tuple[etree._Element, str]]]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(pid: str) -> None:
        if pid in order or pid in visiting or pid not in calls:
            return
        visiting.add(pid)
        for _, callee in calls[pid]:
            visit(callee)
        order.append(pid)

    for pid in calls:
        visit(pid)
    return order
