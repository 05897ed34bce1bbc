"""What changed between two versions of a process model, element by element (matched by id).

An element is anything in the BPMN namespace with an id that a modeller draws or names: flow
nodes, sequence flows, lanes, pools, data objects, the processes themselves. Event definitions,
conditions, timers, scripts, documentation and extension elements belong to the element that
holds them, so a changed timer shows as a change of its event. Diagram layout (BPMN DI) is not a
change: moving a shape changes nothing that runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lxml import etree

from engine.bpmn.xmlsafe import BPMN_NS, NSMAP, is_dmn, safe_xml

PART_OF_OWNER = frozenset(
    {
        "definitions",
        "laneSet",
        "ioSpecification",
        "inputSet",
        "outputSet",
        "multiInstanceLoopCharacteristics",
        "standardLoopCharacteristics",
        "conditionExpression",
        "condition",
        "timeDate",
        "timeDuration",
        "timeCycle",
        "documentation",
        "extensionElements",
        "script",
        "incoming",
        "outgoing",
        "flowNodeRef",
    }
)
"""Element kinds that are part of the element holding them, even when they carry an id."""


DEFAULTS = {
    "cancelActivity": "true",
    "isInterrupting": "true",
    "isForCompensation": "false",
    "isImmediate": "false",
    "parallelMultiple": "false",
    "triggeredByEvent": "false",
    "isClosed": "false",
    "gatewayDirection": "Unspecified",
}
"""Attribute values a modeller may write or leave out with the same meaning (bpmn-js omits
them on save), so they are not changes."""


@dataclass
class ElementChange:
    """One element that was added, removed or changed."""

    element_id: str
    name: str | None
    type: str
    """The BPMN element kind (`userTask`, `sequenceFlow`...), of the new version if it exists."""
    changes: list[str] = field(default_factory=list)
    """What changed, for people ("name: 'A' → 'B'", "timer: ..."); empty when added/removed."""


@dataclass
class ModelDiff:
    """Elements added, removed and changed from an old version to a new one."""

    added: list[ElementChange]
    removed: list[ElementChange]
    changed: list[ElementChange]

    @property
    def empty(self) -> bool:
        """Whether the two versions have the same elements."""
        return not (self.added or self.removed or self.changed)

    def ids(self) -> dict[str, list[str]]:
        """Element ids by kind of change (what the diagram colours)."""
        return {
            "added": [c.element_id for c in self.added],
            "removed": [c.element_id for c in self.removed],
            "changed": [c.element_id for c in self.changed],
        }

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON-ready data (for the modeller page and the API)."""
        return {
            "added": [asdict(c) for c in self.added],
            "removed": [asdict(c) for c in self.removed],
            "changed": [asdict(c) for c in self.changed],
        }


@dataclass
class _Element:
    id: str
    type: str
    name: str | None
    attributes: dict[str, str]
    condition: str | None
    timer: str | None
    script: str | None
    documentation: str | None
    extensions: str | None
    loop: str | None
    incoming: set[str] = field(default_factory=set)
    outgoing: set[str] = field(default_factory=set)
    lane: str | None = None
    members: set[str] = field(default_factory=set)


def _local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def _is_element(node: etree._Element) -> bool:
    return (
        isinstance(node.tag, str)
        and etree.QName(node).namespace == BPMN_NS
        and bool(node.get("id"))
        and _local(node) not in PART_OF_OWNER
        and not _local(node).endswith("EventDefinition")
    )


def _canonical(node: etree._Element) -> str:
    """A stable text form of a subtree (attribute order and whitespace do not matter)."""

    def walk(el: etree._Element) -> Any:
        return [
            etree.QName(el).localname if etree.QName(el).namespace == BPMN_NS else el.tag,
            sorted((k, v) for k, v in el.attrib.items() if k != "id"),
            (el.text or "").strip(),
            [walk(child) for child in el if isinstance(child.tag, str)],
        ]

    return json.dumps(walk(node), ensure_ascii=False)


def _own(node: etree._Element, path: str) -> list[etree._Element]:
    """Descendants matching `path` that belong to `node`, not to an element nested in it."""
    found = node.xpath(path, namespaces=NSMAP)
    out = []
    for el in found:
        owner = el.getparent()
        while owner is not None and owner is not node and not _is_element(owner):
            owner = owner.getparent()
        if owner is node:
            out.append(el)
    return out


def _joined(nodes: list[etree._Element]) -> str | None:
    texts = [(n.text or "").strip() for n in nodes]
    return " | ".join(texts) if any(texts) else None


_DEFINITIONS = "./bpmn:*[contains(local-name(), 'EventDefinition')]"
_LOOPS = "./bpmn:multiInstanceLoopCharacteristics | ./bpmn:standardLoopCharacteristics"


def _read(node: etree._Element) -> _Element:
    timers = _own(node, ".//bpmn:timeDate | .//bpmn:timeDuration | .//bpmn:timeCycle")
    definitions = node.xpath(
        "./bpmn:*[contains(local-name(), 'EventDefinition')]", namespaces=NSMAP
    )
    timer = " | ".join(f"{_local(t)} {(t.text or '').strip()}" for t in timers) or None
    extensions = _own(node, "./bpmn:extensionElements") + _own(
        node, "./bpmn:*[contains(local-name(), 'EventDefinition')]/bpmn:extensionElements"
    )
    loops = _own(
        node, "./bpmn:multiInstanceLoopCharacteristics | ./bpmn:standardLoopCharacteristics"
    )
    attributes = {
        (etree.QName(k).localname if etree.QName(k).namespace is None else k): v
        for k, v in node.attrib.items()
        if k not in ("id", "name") and DEFAULTS.get(str(k)) != v
    }
    if definitions:
        attributes["eventDefinitions"] = ", ".join(sorted(_local(d) for d in definitions))
    return _Element(
        id=node.get("id", ""),
        type=_local(node),
        name=node.get("name"),
        attributes=attributes,
        condition=_joined(_own(node, "./bpmn:conditionExpression | .//bpmn:condition")),
        timer=timer,
        script=_joined(_own(node, "./bpmn:script")),
        documentation=_joined(_own(node, "./bpmn:documentation")),
        extensions=" ".join(_canonical(e) for e in extensions) or None,
        loop=" ".join(_canonical(e) for e in loops) or None,
    )


def elements(files: Mapping[str, str | bytes]) -> dict[str, _Element]:
    """Every diffable element of a version's BPMN files, by id."""
    found: dict[str, _Element] = {}
    for name, text in sorted(files.items()):
        root = safe_xml(text.encode() if isinstance(text, str) else text, name)
        if is_dmn(root):
            continue
        for node in root.iter(etree.Element):
            if _is_element(node) and _local(node) != "BPMNDiagram":
                found[node.get("id", "")] = _read(node)
        for flow in root.xpath("//bpmn:sequenceFlow | //bpmn:messageFlow", namespaces=NSMAP):
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source in found:
                found[source].outgoing.add(flow.get("id", ""))
            if target in found:
                found[target].incoming.add(flow.get("id", ""))
        for lane in root.xpath("//bpmn:lane", namespaces=NSMAP):
            refs = {
                (r.text or "").strip() for r in lane.xpath("./bpmn:flowNodeRef", namespaces=NSMAP)
            }
            if lane.get("id") in found:
                found[lane.get("id", "")].members = refs
            for ref in refs:
                if ref in found:
                    found[ref].lane = lane.get("name") or lane.get("id")
    return found


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _changes(old: _Element, new: _Element) -> list[str]:
    out = []
    simple = (
        ("type", "type"),
        ("name", "name"),
        ("condition", "condition"),
        ("timer", "timer"),
        ("script", "script"),
        ("documentation", "documentation"),
        ("lane", "lane"),
    )
    for attr, label in simple:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            out.append(f"{label}: {_short(before)} → {_short(after)}")
    for key in sorted(set(old.attributes) | set(new.attributes)):
        before, after = old.attributes.get(key), new.attributes.get(key)
        if before != after:
            out.append(f"attribute {key}: {_short(before)} → {_short(after)}")
    if old.extensions != new.extensions:
        out.append("extension properties changed (form, due date, instructions or scripts)")
    if old.loop != new.loop:
        out.append("loop settings changed")
    for label, before_set, after_set in (
        ("incoming flows", old.incoming, new.incoming),
        ("outgoing flows", old.outgoing, new.outgoing),
        ("lane members", old.members, new.members),
    ):
        if before_set != after_set:
            plus = ", ".join(f"+{x}" for x in sorted(after_set - before_set))
            minus = ", ".join(f"−{x}" for x in sorted(before_set - after_set))
            out.append(f"{label}: {', '.join(p for p in (plus, minus) if p)}")
    return out


def diff_files(old: Mapping[str, str | bytes], new: Mapping[str, str | bytes]) -> ModelDiff:
    """Compare two sets of BPMN files element by element."""
    before, after = elements(old), elements(new)
    added = [ElementChange(i, after[i].name, after[i].type) for i in after if i not in before]
    removed = [ElementChange(i, before[i].name, before[i].type) for i in before if i not in after]
    changed = []
    for element_id in after:
        if element_id in before:
            found = _changes(before[element_id], after[element_id])
            if found:
                new_el = after[element_id]
                changed.append(ElementChange(element_id, new_el.name, new_el.type, found))
    return ModelDiff(added=added, removed=removed, changed=changed)
