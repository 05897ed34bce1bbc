"""Every page of every role, as a person would reach it: sign in, follow the links from the
navigation and from each page reached, and fail on a console error, a server error (5xx), a page
that costs the server over a second, or an image without alt text.

A page's cost is the CPU time the server spent on it (its `Server-Timing` header): wall time
grows with the machine's load, and CI shares its machine. A wall time over `HUNG_MS` still fails.

Pages of one kind (say every case page) are visited once: links are grouped by their shape, with
numbers and ids stood in for, so the crawl stays fast however many records the demo holds.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import E2E, LiveServer, running_server, sign_in

pytestmark = E2E

ROLES = ("ada", "olu", "sam", "chris", "gus", "aud", "nima")
"""One user of each role (see E2E_USERS): admin, process owner, Secretariat, Chair, GCG, auditor,
country focal point."""
SLOW_MS = 1000
"""Most server CPU time a page may cost."""
HUNG_MS = 10_000
"""Most wall time a page may take on however busy a machine."""
DRAWN = """() => [...document.querySelectorAll('.diagram, #modeler')]
    .every((e) => e.dataset.ready || e.dataset.error || !e.offsetParent)"""
"""True once every diagram on the page is drawn (or failed, or is hidden)."""
MAX_PAGES_PER_ROLE = 80
SKIP = re.compile(
    r"/logout|/sign-?out|\.(bpmn|dmn|json|csv|xml|zip|png|pdf|svg|txt)$|/download|/export|/files/|/api/"
)
"""Links that are not pages: downloads, exports, served files, the API, signing out."""


def shape(path: str, query: str) -> str:
    """`/instances/12/procedure?page=2` -> `/instances/#/procedure?page`: one visit per kind."""
    path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27,}", "/@", path)
    path = re.sub(r"/\d+", "/#", path)
    keys = sorted({part.split("=")[0] for part in query.split("&") if part})
    return path + ("?" + "&".join(keys) if keys else "")


def server_cpu_ms(header: str) -> float | None:
    """The `cpu;dur=` figure of a `Server-Timing` header, in milliseconds."""
    found = re.search(r"\bcpu;dur=([0-9.]+)", header)
    return float(found.group(1)) if found else None


def crawl(page: Any, base: str) -> tuple[list[str], dict[str, str]]:
    """Visit every page reachable from the navigation; return the pages seen and the problems."""
    problems: dict[str, str] = {}
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(str(exc)))
    start = [
        a.get_attribute("href") for a in page.locator(".main-nav a, .account a, .brand a").all()
    ]
    queue: deque[str] = deque(h for h in start if h)
    seen: set[str] = set()
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        href = queue.popleft()
        url = urlsplit(href)
        if url.netloc and url.netloc != urlsplit(base).netloc:
            continue
        if SKIP.search(url.path) or shape(url.path, url.query) in seen:
            continue
        seen.add(shape(url.path, url.query))
        target = url.path + (f"?{url.query}" if url.query else "")
        console.clear()
        response = page.goto(target, wait_until="load")
        visited.append(target)
        if response is None:
            continue
        if response.status >= 500:
            problems[target] = f"HTTP {response.status}"
            continue
        timing = response.request.timing
        wall_ms = timing["responseStart"] - timing["requestStart"]
        cpu_ms = server_cpu_ms(response.headers.get("server-timing") or "")
        if cpu_ms is None:
            problems[target] = "no Server-Timing header"
        elif cpu_ms > SLOW_MS:
            problems[target] = f"server spent {cpu_ms:.0f} ms of CPU"
        if wall_ms > HUNG_MS:
            problems[target] = f"server answered after {wall_ms:.0f} ms"
        if "html" not in (response.headers.get("content-type") or ""):
            continue
        try:  # diagrams and the modeler draw after the load event: wait for them
            page.wait_for_function(DRAWN, timeout=10_000)
        except PlaywrightTimeout:
            problems[target] = "a diagram was never drawn"
        broken = page.locator("[data-error]").count()
        if broken:
            problems[target] = f"{broken} diagram(s) failed to draw"
        no_alt = page.locator("img:not([alt])").count()
        if no_alt:
            problems[target] = f"{no_alt} image(s) without alt text"
        if console:
            problems[target] = "console: " + " | ".join(console)
        for link in page.locator("a[href]:not([download])").all():
            href = link.get_attribute("href") or ""
            if href.startswith(("#", "mailto:", "javascript:")):
                continue
            queue.append(href.split("#")[0])
    return visited, problems


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: the crawl makes cases for Nepal and Kenya, and the shared server
    allows one active case per country (other modules use those countries there)."""
    with running_server(tmp_path_factory.mktemp("e2e-crawl")) as server:
        yield server


@pytest.fixture(scope="module")
def cases(live_server: LiveServer) -> None:
    """Cases at several stages, so case, task, audit and diff pages all have something to show."""
    live_server.make_case("NPL", "submit_expression_of_interest", name="Nepal")
    live_server.make_case("KEN", "consider_country_report", name="Kenya")


@pytest.mark.parametrize("user", ROLES)
def test_every_page_of_a_role_loads_fast_and_clean(
    page: Any, live_server: LiveServer, cases: None, user: str
) -> None:
    sign_in(page, user)
    visited, problems = crawl(page, live_server.url)
    assert len(visited) >= 5, visited
    assert not problems, problems
    icon = page.request.get("/favicon.ico")  # follows the redirect to the SVG
    assert icon.ok and "svg" in icon.headers["content-type"]
