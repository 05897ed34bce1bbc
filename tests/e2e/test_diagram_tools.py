"""Diagram controls in a real browser: a case page opens framed on the open step, zooms in and
out, fits the whole diagram; the audit replay moved back to an early event shows the step of that
event inside the visible part of the diagram."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import E2E, LiveServer, shot, sign_in

pytestmark = E2E

SCALE = (
    "() => document.querySelector('#diagram .viewport').transform.baseVal.consolidate().matrix.a"
)
IN_VIEW = """([container, id]) => {
  const box = document.querySelector(container).getBoundingClientRect();
  const el = document.querySelector(container + ` .djs-element[data-element-id="${id}"]`);
  if (!el) return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.left >= box.left && r.right <= box.right
    && r.top >= box.top && r.bottom <= box.bottom;
}"""
"""Whether the drawn element lies wholly inside the diagram's visible box (read from the SVG)."""
ALL_IN_VIEW = """(container) => Array.from(
  document.querySelectorAll(container + ' .djs-shape[data-element-id]')).every((el) => {
    const box = document.querySelector(container).getBoundingClientRect();
    const r = el.getBoundingClientRect();
    return r.left >= box.left - 1 && r.right <= box.right + 1
      && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  })"""


def test_zoom_fit_and_replay_keep_the_step_in_view(page: Any, live_server: LiveServer) -> None:
    case = live_server.make_case("TZA", "review_workshop_report", name="Tanzania")
    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    page.wait_for_selector("#diagram[data-ready='1'] svg")
    # It opens on the open task, not on an arbitrary crop of the diagram.
    assert page.evaluate(IN_VIEW, ["#diagram", "review_workshop_report"])
    assert not page.evaluate(ALL_IN_VIEW, "#diagram")  # zoomed in: the whole does not fit

    # Operate-style badges: the open task carries "1 open", a finished one "1 done".
    badge = "#diagram .pf-counts[data-element-id='{}'] .pf-count-{}"
    assert page.inner_text(badge.format("review_workshop_report", "active")) == "1"
    assert page.inner_text(badge.format("register_approach", "done")) == "1"

    start = page.evaluate(SCALE)
    page.click(".diagram-tools button[aria-label='Zoom in']")
    assert page.evaluate(SCALE) > start
    page.click(".diagram-tools button[aria-label='Zoom out']")
    page.click(".diagram-tools button[aria-label='Zoom out']")
    assert page.evaluate(SCALE) < start
    page.click(".diagram-tools button[aria-label='Fit the whole diagram']")
    assert page.evaluate(ALL_IN_VIEW, "#diagram")
    # A two-finger pinch on a touch screen zooms in.
    before = page.evaluate(SCALE)
    box = page.locator("#diagram").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)

    def fingers(gap: float) -> list[dict[str, float]]:
        return [{"x": cx - gap, "y": cy, "id": 1}, {"x": cx + gap, "y": cy, "id": 2}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(40)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(80)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert page.evaluate(SCALE) > before * 1.5

    page.focus("#diagram")
    page.keyboard.press("c")  # back to the current step
    assert page.evaluate(IN_VIEW, ["#diagram", "review_workshop_report"])
    shot(page, "diagram-tools-case")

    # The replay, moved back to an early event, brings that event's element into view.
    page.goto(f"/audit/instances/{case.id}")
    page.wait_for_selector("#replay-diagram[data-ready='1']")
    events = live_server.engine.history(case.id)
    early = next(e for e in events if e.element_id == "register_approach")
    page.fill("#replay-seq", str(early.seq))
    page.wait_for_selector(f"#replay-diagram[data-seq='{early.seq}']:not([data-loading])")
    assert page.evaluate(IN_VIEW, ["#replay-diagram", "register_approach"])
    # At that event nothing after it is counted yet.
    assert (
        page.locator("#replay-diagram .pf-counts[data-element-id='review_workshop_report']").count()
        == 0
    )
    assert page.js_errors == []
    shot(page, "diagram-tools-replay")
