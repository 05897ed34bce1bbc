"""Validation messages of a form, in words a person understands, in any language.

jsonschema's own messages name JSON types and paths ("'abc' is not of type 'integer'"); these
name the field by its title, the expected kind of value, the choices offered, the limits, and go
through a translate function (`N_` marks the templates for extraction into the catalogs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

ATTACHMENT_FORMAT = "attachment"
"""`{"type": "string", "format": "attachment"}`: a file field; its value is an attachment id."""


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # jsonschema reports a missing field on its parent; point at the field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    return ".".join(parts) or "_form"


_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "text",
    "boolean": "Yes or No",
    "array": "a list",
    "object": "a group of answers",
}
_ACRONYMS = {"ilo", "gcg", "un", "sdg", "vnr", "ngo", "iom", "unicef", "usd"}


def value_title(value: Any) -> str:
    """A readable title for a bare value: `ilo_director_general` -> `ILO director general`."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(value)
    if re.fullmatch(r"[a-z0-9_]+", text) and not re.fullmatch(r"[0-9_]+", text):
        words = text.replace("_", " ").capitalize().split(" ")
        return " ".join(w.upper() if w.lower() in _ACRONYMS else w for w in words)
    return text


def _choice_titles(schema: Mapping[str, Any]) -> dict[str, str]:
    """Value -> title of a choice field, from `oneOf` consts, `enumNames` or the values."""
    one_of = schema.get("oneOf") or schema.get("anyOf") or []
    if one_of and all(isinstance(o, Mapping) and "const" in o for o in one_of):
        return {str(o["const"]): str(o.get("title") or value_title(o["const"])) for o in one_of}
    names = schema.get("enumNames") or []
    return {
        str(v): str(names[i]) if i < len(names) else value_title(v)
        for i, v in enumerate(schema.get("enum") or [])
    }


def _field_schema(root: Mapping[str, Any], path: Sequence[Any]) -> Mapping[str, Any]:
    """The (sub)schema that defines the field at `path` (array indexes step into `items`)."""
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping):
            return {}
        if isinstance(part, int):
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(part) or {}
    return node if isinstance(node, Mapping) else {}


Translate = Callable[[str], str]
"""A gettext function: English message template -> the template in the reader's language."""


def _english(text: str) -> str:
    return text


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "mark for translation"
    """Mark a message template for the catalogs (`pybabel extract -k N_`); `t` translates it."""
    return text


def _quoted(titles: Sequence[str], t: Translate = _english) -> str:
    quoted = [t("“%(title)s”") % {"title": x} for x in titles]
    if len(quoted) <= 1:
        return "".join(quoted)
    return t("%(items)s or %(last)s") % {"items": ", ".join(quoted[:-1]), "last": quoted[-1]}


_FORMAT_MESSAGES = {
    "date": N_("Enter a valid date."),
    "email": N_("Enter a valid email address."),
    "uri": N_("Enter a valid web address (https://…)."),
}
_TYPE_MESSAGES = {
    "number": N_("Enter a number for %(title)s."),
    "integer": N_("Enter a whole number for %(title)s."),
    "string": N_("Enter text for %(title)s."),
    "boolean": N_("Enter Yes or No for %(title)s."),
    "array": N_("Enter a list for %(title)s."),
    "object": N_("Enter a group of answers for %(title)s."),
}
_LIMIT_MESSAGES = {
    "minimum": N_("%(title)s must be at least %(limit)s."),
    "exclusiveMinimum": N_("%(title)s must be more than %(limit)s."),
    "maximum": N_("%(title)s must be at most %(limit)s."),
    "exclusiveMaximum": N_("%(title)s must be less than %(limit)s."),
    "maxLength": N_("At most %(limit)s characters."),
    "minLength": N_("At least %(limit)s characters."),
    "minItems": N_("Add at least %(limit)s."),
}
MESSAGE_TEMPLATES: tuple[str, ...] = (
    N_("This field is required."),
    N_("Upload the file again: this is not an uploaded file's id."),
    N_("Enter a valid %(format)s."),
    N_("Choose %(choices)s for %(title)s."),
    N_("%(title)s must be “%(value)s” with the other answers given here."),
    N_("Enter a value for %(title)s."),
    N_("This field"),
    N_("Yes"),
    N_("No"),
    N_("“%(title)s”"),
    N_("%(items)s or %(last)s"),
    N_("%(title)s cannot be in the future (today is %(today)s)."),
    N_("%(title)s cannot be before %(other)s (%(day)s)."),
    N_("%(title)s must be after %(other)s (%(day)s)."),
    *_FORMAT_MESSAGES.values(),
    *_TYPE_MESSAGES.values(),
    *_LIMIT_MESSAGES.values(),
)
"""Every validation message template, in English (the web catalog translates them; a form's
`x-messages` on a field replaces them for that field, by JSON Schema keyword)."""


def _message(
    error: ValidationError, root: Mapping[str, Any] | None = None, t: Translate = _english
) -> str:
    """A plain sentence naming the field and, for choices, the allowed values by their titles."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    field = _field_schema(root, path) if root is not None else {}
    title = str(field.get("title") or (value_title(path[-1]) if path else t("This field")))
    v = str(error.validator)
    own = field.get("x-messages")
    if isinstance(own, Mapping) and isinstance(own.get(v), str):
        return str(own[v])
    if v == "required" or (v == "minLength" and error.validator_value == 1):
        return t("This field is required.")
    if v == "format" and error.validator_value == ATTACHMENT_FORMAT:
        return t("Upload the file again: this is not an uploaded file's id.")
    if v == "format":
        known = _FORMAT_MESSAGES.get(str(error.validator_value))
        if known:
            return t(known)
        return t("Enter a valid %(format)s.") % {"format": error.validator_value}
    if v == "enum":
        titles = _choice_titles(field) or {str(x): value_title(x) for x in error.validator_value}
        return t("Choose %(choices)s for %(title)s.") % {
            "choices": _quoted(list(titles.values()), t),
            "title": title,
        }
    if v == "const":
        allowed = _choice_titles(field).get(str(error.validator_value))
        shown = allowed or value_title(error.validator_value)
        if isinstance(error.validator_value, bool):
            shown = t(shown)
        return t("%(title)s must be “%(value)s” with the other answers given here.") % {
            "title": title,
            "value": shown,
        }
    if v in _LIMIT_MESSAGES:
        return t(_LIMIT_MESSAGES[v]) % {"title": title, "limit": error.validator_value}
    if v == "type":
        wanted = error.validator_value
        key = wanted if isinstance(wanted, str) else str(wanted[0])
        template = _TYPE_MESSAGES.get(key, "Enter a value for %(title)s.")
        return t(template) % {"title": title}
    return str(error.message)
