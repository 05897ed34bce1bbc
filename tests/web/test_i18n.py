"""English, French and Spanish: the language a person reads, the catalogs behind every page, the
forms and element names deployed with the model, and `pathfinder i18n check`."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, template_rendered
from flask_babel import get_locale, get_translations
from jinja2 import Template
from werkzeug.routing.converters import AnyConverter

from cli.i18n_check import check, missing_elements, missing_forms
from engine import Actor, Engine, Settings, i18n
from engine.people.identities import add_mapping
from engine.store.db import transaction
from engine.store.models import Instance, User
from tests.conftest import ROOT
from tests.web.conftest import PASSWORD, Web, task_of, user_row

LANGS = ("fr", "es")


def _set_locale(engine: Engine, username: str, locale: str | None) -> None:
    with transaction(engine.sessions) as s:
        s.query(User).filter_by(username=username).one().locale = locale


# -- the check that `make test` runs ----------------------------------------------------------------


def test_i18n_check_finds_nothing_missing_in_french_and_spanish() -> None:
    reports = check(ROOT)
    assert [r.lang for r in reports] == ["fr", "es"]
    for r in reports:
        assert r.product == [], f"{r.lang}: untranslated product strings (make extract-messages)"
        assert r.forms == [], f"{r.lang}: untranslated form texts"
        assert r.elements == [], f"{r.lang}: untranslated element names"


def test_i18n_check_reports_a_new_string_an_untranslated_form_text_and_element(
    tmp_path: Path,
) -> None:
    """A copy of the tree with one new page string, one new form field and one new element."""
    for name in ("babel.cfg",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "forms", tmp_path / "forms")
    shutil.copytree(ROOT / "processes", tmp_path / "processes")
    shutil.copytree(ROOT / "web" / "translations", tmp_path / "web" / "translations")
    (tmp_path / "web" / "new_page.py").write_text(
        'from flask_babel import gettext as _\n_("A brand new sentence.")\n'
    )
    schema_path = tmp_path / "forms" / "register_approach.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["new_field"] = {"type": "string", "title": "A new field"}
    schema_path.write_text(json.dumps(schema))
    bpmn = tmp_path / "processes" / "pathfinder.bpmn"
    bpmn.write_text(
        bpmn.read_text()
        .replace('name="Register the approach"', 'name="Register it"', 1)
        .replace('id="register_approach"', 'id="register_approach_v2"', 1)
    )

    reports = {r.lang: r for r in check(tmp_path)}
    for lang in LANGS:
        assert reports[lang].product == ["A brand new sentence."]
        assert reports[lang].forms == ["register_approach: properties.new_field.title"]
        assert reports[lang].elements == [
            "pathfinder: register_approach_v2 (Register it)",
            "pathfinder: instructions of register_approach_v2",
        ]
    assert missing_forms(ROOT, "fr") == [] and missing_elements(ROOT, "es") == []


def test_a_choice_translated_as_its_raw_value_counts_as_missing() -> None:
    """An overlay written before the form named its choices ("C029" for the Forced Labour
    Convention) is not a translation."""
    from engine.i18n import missing_form_texts

    schema = {
        "type": "object",
        "properties": {
            "conventions": {
                "type": "array",
                "title": "Conventions",
                "items": {
                    "type": "string",
                    "enum": ["C029", "C105"],
                    "enumNames": ["Forced Labour Convention, 1930 (No. 29)", "C105"],
                },
            }
        },
    }
    overlay = {
        "properties": {
            "conventions": {
                "title": "Conventions",
                "choices": {"C029": "C029", "C105": "C105"},
            }
        }
    }
    assert missing_form_texts(schema, {}, overlay) == ["properties.conventions.choices.C029"]
    overlay["properties"]["conventions"]["choices"]["C029"] = (
        "Convention (n° 29) sur le travail forcé"
    )
    assert missing_form_texts(schema, {}, overlay) == []


def test_the_cli_command_exits_1_while_something_is_missing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    runner = CliRunner()
    ok = runner.invoke(main, ["i18n", "check", "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert "fr: 0 missing" in ok.output and "es: 0 missing" in ok.output
    shutil.copytree(ROOT / "forms", tmp_path / "forms")
    shutil.copytree(ROOT / "processes", tmp_path / "processes")
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "web").mkdir()
    shutil.rmtree(tmp_path / "forms" / "i18n" / "es")  # the Spanish form texts are gone
    bad = runner.invoke(main, ["i18n", "check", "--root", str(tmp_path), "--lang", "es"])
    assert bad.exit_code == 1
    assert "forms: submit_expression_of_interest: title" in bad.output
    assert "product: " not in bad.output and "fr:" not in bad.output


# -- the reader's language ---------------------------------------------------------------------------


def test_browser_language_then_profile_setting_then_switcher(
    app: Flask, deployed: Engine, web: Web
) -> None:
    spanish = web.get("/login", headers={"Accept-Language": "es-PE,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in spanish.get_data(as_text=True)
    assert "Iniciar sesión" in spanish.get_data(as_text=True)
    assert "Sign in" in web.html("/login")  # no Accept-Language: English
    assert "Se connecter" in web.get("/login", headers={"Accept-Language": "fr-CA"}).get_data(
        as_text=True
    )

    _set_locale(deployed, "nima", "fr")
    assert web.login("nima").status_code == 302
    inbox = web.get("/inbox", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Boîte de réception" in inbox  # the profile wins over the browser
    assert 'action="/language"' in inbox and "<script" not in inbox.split("<footer")[0]

    moved = web.post("/language", {"language": "es", "next": "/inbox?page=1"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/inbox?page=1")
    assert user_row(deployed, "nima").locale == "es"
    assert "Bandeja de entrada" in web.html("/inbox")

    away = web.post("/language", {"language": "fr", "next": "https://evil.example/"})
    assert away.headers["Location"].endswith("/inbox")  # never off the site
    refused = web.post("/language", {"language": "de", "next": "/inbox"})
    assert refused.status_code == 302 and user_row(deployed, "nima").locale == "fr"
    assert "Cette langue n&#39;est pas disponible." in web.html("/inbox")


def test_anonymous_switch_is_kept_in_the_session(web: Web) -> None:
    assert web.post("/language", {"language": "es", "next": "/login"}).status_code == 302
    assert "Iniciar sesión" in web.html("/login")


def test_api_messages_follow_accept_language(app: Flask) -> None:
    client = app.test_client()
    for lang, expected in (("es", "Autenticación obligatoria"), ("fr", "Authentification requise")):
        answer = client.get(
            "/api/v1/instances",
            headers={"Accept-Language": lang, "Authorization": "Bearer not-a-token"},
        )
        assert answer.status_code == 401
        body = answer.get_json()
        assert expected in json.dumps(body, ensure_ascii=False), body
    english = client.get("/api/v1/instances", headers={"Authorization": "Bearer x"}).get_json()
    assert "The token is invalid, expired or revoked." in json.dumps(english)


# -- forms and element names deployed with the model ----------------------------------------------


def test_translations_are_stored_in_the_process_version(deployed: Engine) -> None:
    with deployed.session() as s:
        from engine.store.models import ProcessVersion

        version = s.query(ProcessVersion).filter_by(process_key="pathfinder").one()
        stored = set(version.forms)
    for lang in LANGS:
        assert i18n.process_key(lang, "pathfinder") in stored
        assert f"i18n/{lang}/submit_expression_of_interest.json" in stored


def test_task_form_in_spanish_with_spanish_validation_message(
    app: Flask, deployed: Engine, make_case: Callable[..., Instance], web: Web
) -> None:
    case = make_case("NPL", "submit_expression_of_interest")
    task_id = task_of(deployed, case, "submit_expression_of_interest")
    _set_locale(deployed, "nima", "es")
    web.login("nima")
    page = web.html(f"/tasks/{task_id}")
    assert "<h1>Presentar la manifestación de interés</h1>" in page
    assert "Fecha de la carta" in page and "Trata de personas" in page
    assert "Director General de la OIT" in page

    lock = re.search(r'name="lock_version" value="(\d+)"', page)
    assert lock is not None
    answer = web.post(
        f"/tasks/{task_id}",
        {"action": "complete", "lock_version": lock.group(1), "signed_by_minister": "true"},
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "Este campo es obligatorio." in text and "This field is required." not in text
    assert "Marque al menos un tema" in text  # the form's own Spanish message


def test_element_names_in_the_inbox_and_the_tracker(
    app: Flask, deployed: Engine, make_case: Callable[..., Instance], web: Web
) -> None:
    make_case("NPL", "submit_expression_of_interest")
    _set_locale(deployed, "nima", "fr")
    web.login("nima")
    inbox = web.html("/inbox")
    assert "Soumettre la manifestation d&#39;intérêt" in inbox
    tracker = web.html("/procedure")
    assert "Manifestation d&#39;intérêt" in tracker  # the stage title


# -- every page template in each language, without falling back to English ---------------------------


class _Misses:
    """Installs gettext functions that note every msgid the current catalog lacks."""

    def __init__(self, app: Flask) -> None:
        self.missing: set[str] = set()
        app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
            self.gettext, self.ngettext, newstyle=True
        )

    def _note(self, msgid: str) -> None:
        if str(get_locale()) == "en":  # a page before sign-in, in the test client's English
            return
        catalog = getattr(get_translations(), "_catalog", {})
        if msgid not in catalog and (msgid, 0) not in catalog:
            self.missing.add(msgid)

    # Jinja's newstyle wrappers do the %-formatting, as with the callables Flask-Babel installs.
    def gettext(self, msgid: str) -> str:
        self._note(msgid)
        return str(get_translations().ugettext(msgid))

    def ngettext(self, singular: str, plural: str, num: int) -> str:
        self._note(singular)
        return str(get_translations().ungettext(singular, plural, num))


NOT_CRAWLED = {
    "base.html": "the layout every page extends",
    "oidc_waiting.html": "after an OpenID sign-in; rendered in the test below",
    "oidc_refused.html": "after an OpenID sign-in; rendered in the test below",
    "notifications/mail_file.html": "needs a mail file on disk; rendered in the test below",
    "signed_out.html": "signing out of an OpenID provider too; rendered in the test below",
}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A checkpoint key, so that the checkpoint pages have something to show."""
    return dataclasses.replace(settings, checkpoint_key=tmp_path / "keys" / "checkpoint.pem")


def _urls(app: Flask, samples: dict[str, list[Any]]) -> Iterator[str]:
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in ("static", "favicon"):
            continue
        if rule.rule.startswith("/api/") or rule.endpoint.startswith("api."):
            continue
        combos: list[dict[str, Any]] = [{}]
        for name in sorted(rule.arguments):
            converter = rule._converters.get(name)
            values = sorted(converter.items) if isinstance(converter, AnyConverter) else None
            values = values or samples.get(name)
            if not values:
                break
            combos = [{**c, name: v} for c in combos for v in values]
        else:
            for values in combos:
                built = rule.build(values, append_unknown=False)
                if built is not None:
                    yield built[1]


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_template_renders_in_each_language_without_english_fallback(
    lang: str,
    app: Flask,
    deployed: Engine,
    make_case: Callable[..., Instance],
    users: dict[str, Actor],
) -> None:
    case = make_case("NPL", "submit_expression_of_interest")
    task_id = task_of(deployed, case, "submit_expression_of_interest")
    held = make_case("KEN", "submit_expression_of_interest")
    held_id = task_of(deployed, held, "submit_expression_of_interest")
    deployed.claim(held_id, users["kofi"])  # task_held.html for the Secretariat
    checkpoint = deployed.checkpoints.write(actor="test")
    with transaction(deployed.sessions) as s:
        mapping_id = add_mapping(
            s,
            provider="test",
            claim_value="staff",
            role="secretariat",
            country=None,
            providers=["test"],
            actor="ada",
            now=deployed.now(),
        ).id
    misses = _Misses(app)
    rendered: set[str] = set()

    def note(_sender: Flask, template: Template, **_extra: Any) -> None:
        rendered.add(str(template.name))

    samples = {
        "instance_id": [case.id],
        "task_id": [task_id, held_id],
        "user_id": [user_row(deployed, "ada").id],
        "key": ["pathfinder"],
        "token_id": [1],
        "mapping_id": [mapping_id],
        "version": [1],
        "country": ["NPL"],
        "name": ["withdrawal", checkpoint.name],
        "state": ["pending"],
        "token": ["not-a-real-token"],
    }
    errors: list[str] = []
    with template_rendered.connected_to(note, app):
        anonymous = Web(app.test_client())
        for url in ("/login", "/notifications/unsubscribe/not-a-real-token", "/no/such/page"):
            anonymous.get(url, headers={"Accept-Language": lang})
        for who in ("ada", "sam", "nima", "aud"):
            _set_locale(deployed, who, lang)
            web = Web(app.test_client())
            assert web.login(who, PASSWORD).status_code == 302
            web.post("/account/api-tokens", {"name": "crawl", "expires_in_days": "30"})
            for url in _urls(app, samples):
                answer = web.get(url)
                if answer.status_code >= 500:
                    errors.append(f"{who} {url}: {answer.status_code}")
                elif (
                    answer.status_code == 200
                    and answer.mimetype == "text/html"
                    and f'<html lang="{lang}">' not in (answer.get_data(as_text=True))
                ):
                    errors.append(f"{who} {url}: not in {lang}")
    assert not errors, errors
    assert not misses.missing, f"{lang}: shown in English: {sorted(misses.missing)}"
    pages = {
        str(p.relative_to(ROOT / "web" / "templates"))
        for p in (ROOT / "web" / "templates").rglob("*.html")
        if not p.name.startswith("_")
    }
    unreached = pages - rendered - set(NOT_CRAWLED)
    assert not unreached, f"pages no crawl reached: {sorted(unreached)}"


def test_mail_file_and_oidc_pages_in_each_language(app: Flask) -> None:
    """The pages the crawl cannot reach, rendered with the context their views give them."""
    from flask import render_template

    misses = _Misses(app)
    provider = SimpleNamespace(name="un", button_label="UN sign-in")
    pages = {
        "oidc_refused.html": {"provider": provider, "message": "refused"},
        "oidc_waiting.html": {},
        "signed_out.html": {"end_session": "https://id.example/logout"},
        "notifications/mail_file.html": {
            "name": "x.eml",
            "headers": [("Subject", "s")],
            "text": "body",
        },
    }
    for lang in LANGS:
        with app.test_request_context("/", headers={"Accept-Language": lang}):
            for template, context in pages.items():
                assert f'<html lang="{lang}">' in render_template(template, **context)
    assert set(pages) == set(NOT_CRAWLED) - {"base.html"}
    assert not misses.missing, sorted(misses.missing)
