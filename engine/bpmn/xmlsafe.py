"""Safe intake of uploaded XML: bytes in, a trusted lxml tree or a list of problems out.

Everything here runs before SpiffWorkflow sees a byte. A document type declaration is refused
outright (it is the only place entities can be declared, so refusing it rules out XXE and
entity expansion bombs), and lxml is configured so that it could not fetch anything even if one
slipped through. `Problem` and `ValidationFailed` live here because this is where the first
problems are found; `engine.parsing` re-exports them.

The static checks of a process on the hardened tree live in `engine.bpmn.checks` (timers in
`engine.bpmn.timer_checks`); `form_refs` stays here, beside the namespaces it reads.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR

from engine.errors import EngineError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NSMAP = {
    "bpmn": BPMN_NS,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": SPIFF_NS,
}
# Namespaces whose XSD errors mean the model itself is wrong (not a vendor's extension).
OWN_NAMESPACES = {*NSMAP.values(), "http://www.omg.org/spec/DD/20100524/DI"}

_PROLOG_NOISE = re.compile(rb"<!--.*?-->|<\?.*?\?>|\s+", re.S)
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_QUOTED_NAMESPACE = re.compile(r"'\{([^}]*)\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an uploaded model, said so that a modeller can fix it."""

    message: str
    """Plain language: what is wrong and what to do."""
    element_id: str | None = None
    """The BPMN element's id, when the problem is about one element."""
    element_name: str | None = None
    """The element's name as shown in the diagram, looked up from the XML."""
    file: str | None = None
    """The uploaded file name."""
    line: int | None = None
    """1-based line in `file`, where known."""
    severity: str = "error"
    """"error" (refuses the bundle, or the process cannot be started) or "warning"."""
    code: str = ""
    """Stable short kind, e.g. `xml-syntax`, `timer-expression`; see `engine.parsing`."""
    suggested_fix: str | None = None
    """Replacement text for the element's expression when the fix is mechanical."""

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        what = f"{self.element_name or ''} ({self.element_id})" if self.element_id else ""
        return " ".join(p for p in (where, what.strip(), self.message) if p)


class ValidationFailed(EngineError):
    """The bundle was refused; `problems` lists everything found, not just the first."""

    http_status = 422
    title = "Model refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"] or self.problems
        summary = "; ".join(str(p) for p in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} problem(s): {summary}{more}", problems=self.problems)


def _hostile(filename: str, line: int | None = None) -> Problem:
    return Problem(
        "The file declares a DOCTYPE (DTD or entities). Uploaded models may not, because that "
        "is how XML files are made to read other files. Remove the <!DOCTYPE ...> declaration.",
        file=filename,
        line=line,
        code="hostile-xml",
    )


def _has_declaration_in_prolog(data: bytes) -> bool:
    # UTF-16/32 text becomes ASCII-searchable once the zero bytes are dropped.
    text = data.replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")  # and byte order marks
    position = 0
    while True:
        noise = _PROLOG_NOISE.match(text, position)
        if noise is None or noise.end() == position:
            break
        position = noise.end()
    return _DECLARATION.match(text, position) is not None


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def safe_xml(data: bytes, filename: str) -> etree._Element:
    """Parse uploaded XML with every external reference disabled.

    Raises:
        ValidationFailed: `hostile-xml` for any DOCTYPE/entity declaration (refused before lxml
            reads the bytes), `xml-syntax` with the line for malformed XML.
    """
    if _has_declaration_in_prolog(data):
        raise ValidationFailed([_hostile(filename)])
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise ValidationFailed(
            [
                Problem(
                    f"The file is not well-formed XML: {error.msg}. Open it in the modeller and "
                    "save it again, or fix the XML by hand.",
                    file=filename,
                    line=error.lineno or None,
                    code="xml-syntax",
                )
            ]
        ) from None
    except (ValueError, etree.LxmlError) as error:
        raise ValidationFailed(
            [Problem(f"The file cannot be read as XML: {error}.", file=filename, code="xml-syntax")]
        ) from None
    docinfo = root.getroottree().docinfo
    if (
        docinfo.doctype
        or docinfo.internalDTD is not None
        or any(isinstance(node, etree._Entity) for node in root.iter())
    ):
        raise ValidationFailed([_hostile(filename, 1)])
    return root


def size_problems(
    files: dict[str, bytes], forms: dict[str, bytes], max_bytes: int
) -> list[Problem]:
    """`too-large` for any single file over `max_bytes`, or for the bundle as a whole."""
    problems = [
        Problem(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
            file=name,
            code="too-large",
        )
        for name, data in {**files, **forms}.items()
        if len(data) > max_bytes
    ]
    total = sum(len(d) for d in files.values()) + sum(len(d) for d in forms.values())
    if not problems and total > max_bytes:
        problems.append(
            Problem(
                f"The upload is {total:,} bytes in all; the limit is {max_bytes:,} bytes. "
                "Deploy fewer files at once.",
                code="too-large",
            )
        )
    return problems


def is_dmn(root: etree._Element) -> bool:
    """True for a DMN document (any DMN version), judged by its root, not its file name."""
    return "/DMN/" in (etree.QName(root).namespace or "")


@cache
def _dmn_validator(namespace: str) -> BpmnValidator | None:
    path = DMN_SCHEMAS.get(namespace)
    return BpmnValidator(path) if path else None


def xsd_problems(root: etree._Element, filename: str) -> list[Problem]:
    """Validate against the BPMN (with SpiffWorkflow extensions) or DMN schema.

    Errors that only concern a vendor's extension namespace (Camunda, Signavio, Zeebe...) are
    warnings: SpiffWorkflow ignores those extensions, and the file comes from another tool.
    """
    namespace = etree.QName(root).namespace or ""
    validator = SPIFF_VALIDATOR if namespace == BPMN_NS else _dmn_validator(namespace)
    if validator is None:
        return []
    checked = copy.deepcopy(root)
    # SpiffWorkflow's validator renames a bpmn-js quirk in place; do that on a copy.
    validator.preprocess(checked)
    schema: etree.XMLSchema = validator.validator
    if schema.validate(checked):
        return []
    problems = []
    for entry in schema.error_log:
        mentioned = set(_QUOTED_NAMESPACE.findall(entry.message))
        vendor_only = bool(mentioned) and not mentioned & OWN_NAMESPACES
        problems.append(
            Problem(
                f"Does not match the {'DMN' if namespace != BPMN_NS else 'BPMN'} schema: "
                f"{entry.message}" + (" (a vendor extension, ignored)" if vendor_only else ""),
                file=filename,
                line=entry.line or None,
                severity="warning" if vendor_only else "error",
                code="xsd",
            )
        )
    return problems


def element_label(root: etree._Element, element_id: str | None) -> tuple[str | None, int | None]:
    """The name and source line of the element with this id in the document, if any."""
    if not element_id:
        return None, None
    found = root.xpath("//*[@id=$id]", id=element_id)
    if not found:
        return None, None
    element = found[0]
    return element.get("name"), element.sourceline


FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")


def _xpath(element: etree._Element, path: str) -> list[etree._Element]:
    return list(element.xpath(path, namespaces=NSMAP))


def form_refs(process: etree._Element) -> list[tuple[etree._Element, str]]:
    """Each user task of a process with the form file it names."""
    refs = []
    for task in _xpath(process, ".//bpmn:userTask"):
        for prop in _xpath(task, "./bpmn:extensionElements/spiffworkflow:properties/*"):
            if prop.get("name") in FORM_PROPERTIES and prop.get("value"):
                refs.append((task, prop.get("value", "")))
    return refs
