"""Rendering one e-mail from its Jinja2 templates, in the recipient's language.

Each kind of message has `<kind>.txt` (which sets `subject`) and `<kind>.html` in
`engine/mail/templates`; they use the product's message catalogs and a localized `date` filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Rendered:
    """One message rendered from its template: subject and bodies."""

    subject: str
    text: str
    html: str


CATALOGS = Path(__file__).resolve().parents[2] / "web" / "translations"
"""The product's message catalogs (compiled by `make install`); e-mails use the same ones as
the pages, in the recipient's language."""


@lru_cache(maxsize=16)
def _environment(folder: Path, locale: str = "en") -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    translations = Translations.load(str(CATALOGS), [locale]) if locale != "en" else None
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations or NullTranslations(), newstyle=True
    )

    def day(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if locale == "en":
            return value.strftime("%d %B %Y")
        return str(format_date(value, "long", locale=locale))

    env.filters["date"] = day
    return env


def render(
    kind: str, context: Mapping[str, Any], folder: Path = TEMPLATES, locale: str | None = None
) -> Rendered:
    """Render `<kind>.txt` and `<kind>.html` in `locale` (English by default); the text
    template sets `subject`."""
    lang = locale if locale in ("fr", "es") else "en"
    env = _environment(folder, lang)
    text = env.get_template(f"{kind}.txt").make_module({**context, "lang": lang})
    html = env.get_template(f"{kind}.html").render({**context, "lang": lang})
    subject = " ".join(str(getattr(text, "subject", "Pathfinder")).split())
    return Rendered(subject=subject[:300], text=str(text).strip() + "\n", html=html)
