"""End-to-end fixtures: a live Pathfinder server in a thread and headless Debian Chromium.

Reusable by every e2e module:
- `live_server`: the app on a temp SQLite DB with the bundled processes deployed, demo-style
  users (see `E2E_USERS`, password `E2E_PASSWORD`), served on 127.0.0.1 at a free port; it runs
  on a `VirtualClock` (`live_server.clock`) and offers `make_case(country, stop_at)`.
- `browser` (session) and `page` (fresh context per test, 1280x900; `phone_page` 390x844).
- `shot(page, name)`: a full-page PNG under test-output/screenshots/.

Mark modules with `pytestmark = E2E` (e2e marker, xdist group, skip without Chromium).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import Actor, Engine, Settings, VirtualClock
from engine.demo import drive
from engine.people.accounts import actor_for, create_user
from engine.store.db import transaction
from engine.store.migrate import upgrade
from engine.store.models import Instance
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
E2E_PASSWORD = "e2e-password-1"
E2E_USERS: dict[str, tuple[list[str], str | None]] = {
    "ada": (["admin"], None),
    "olu": (["process_owner"], None),
    "sam": (["secretariat"], None),
    "chris": (["chair"], None),
    "gus": (["gcg"], None),
    "nima": (["country"], "NPL"),
    "kofi": (["country"], "KEN"),
    "aud": (["auditor"], None),
}
E2E = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"headless Chromium not installed at {CHROMIUM} (apt-get install chromium)",
    ),
]
"""`pytestmark = E2E` in an e2e module."""


@dataclass
class LiveServer:
    url: str
    engine: Engine
    clock: VirtualClock
    actors: dict[str, Actor] = field(default_factory=dict)

    def make_case(
        self,
        country: str = "NPL",
        stop_at: str | None = "submit_expression_of_interest",
        name: str | None = None,
    ) -> Instance:
        """Start a pathfinder case and drive it with the demo payloads until `stop_at` is ready."""
        instance = self.engine.start(
            "pathfinder", {"country": country, "country_name": name or country}, self.actors["sam"]
        )
        if stop_at != "register_approach":
            problems = drive(
                self.engine, self.clock, instance.id, stop_at=stop_at, actors=self.actors
            )
            assert not problems, problems
        return self.engine.instance(instance.id)


@contextmanager
def running_server(folder: Path, **settings_overrides: Any) -> Iterator[LiveServer]:
    """A Pathfinder server on 127.0.0.1 (free port) over a fresh SQLite database in `folder`, with
    the bundled processes deployed and the E2E users created."""
    from werkzeug.serving import make_server

    from web import create_app

    url = f"sqlite:///{folder / 'pathfinder.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url, secret_key="e2e-secret", var_dir=folder / "var", **settings_overrides
    )
    clock = VirtualClock(datetime(2027, 1, 4, 9, tzinfo=UTC))
    engine = Engine.from_settings(settings, clock)
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    actors = {}
    with transaction(engine.sessions) as s:
        for name, (roles, country) in E2E_USERS.items():
            user = create_user(
                s,
                name,
                E2E_PASSWORD,
                roles,
                now=clock.now(),
                country=country,
                display_name=name.title(),
            )
            actors[name] = actor_for(user)
    app = create_app(settings, clock=clock, engine=engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", engine, clock, actors)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("e2e")) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def _page(browser: Any, live_server: LiveServer, **context: Any) -> Iterator[Any]:
    ctx = browser.new_context(base_url=live_server.url, **context)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # tests may assert there were none
    yield page
    ctx.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser tab (own cookies) at desktop size, with base_url set to the server."""
    yield from _page(browser, live_server, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh tab at phone size (390x844, touch)."""
    yield from _page(
        browser, live_server, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as test-output/screenshots/<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.wait_for_load_state("load")
    try:
        page.screenshot(path=str(path), full_page=full_page)
    except Exception as exc:  # noqa: BLE001 - Chromium's capture can fail mid-paint on a busy machine
        if "Unable to capture screenshot" not in str(exc):
            raise
        page.wait_for_timeout(500)  # one retry: the screenshot is a record, not the assertion
        page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Any, username: str, password: str = E2E_PASSWORD) -> None:
    """Sign in through the login form (signing out first if needed)."""
    page.goto("/login")
    if page.locator("button", has_text="Sign out").count():
        page.click("text=Sign out")
        page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(
        re.compile(r".*/(inbox|procedure).*")
    )  # an idle focal point lands on /procedure


@pytest.fixture
def login(page: Any) -> Callable[[str], Any]:
    def go(username: str) -> Any:
        sign_in(page, username)
        return page

    return go
