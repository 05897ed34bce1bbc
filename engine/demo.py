"""Demo data: a user for every role and a handful of countries at different stages.

`seed(settings)` drives the deployed pathfinder process on a virtual clock that starts a few
years back and stops at the real now, completing whichever user tasks become ready with
realistic form data, so the timeline dates look real. Re-running it adds nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.bpmn.forms import field_errors, load_form
from engine.clock import VirtualClock
from engine.config import Settings
from engine.core import Engine
from engine.errors import EngineError
from engine.people.access import Actor, role_for_lane
from engine.people.accounts import actor_for, create_user
from engine.store.db import transaction
from engine.store.models import HumanTask, Instance, ProcessModel, TimerJob, User

PROCESS = "pathfinder"

DEMO_USERS: tuple[tuple[str, str, tuple[str, ...], str | None, str], ...] = (
    # username, password, roles, country, display name
    ("admin", "demo-admin", ("admin",), None, "Ada Admin"),
    ("owner", "demo-owner", ("process_owner",), None, "Olu Process-Owner"),
    ("secretariat", "demo-secretariat", ("secretariat",), None, "Sara Secretariat"),
    ("secretariat2", "demo-secretariat2", ("secretariat",), None, "Samuel Secretariat"),
    ("chair", "demo-chair", ("chair",), None, "Chris Chair"),
    ("gcg", "demo-gcg", ("gcg",), None, "Grace GCG"),
    ("gcg2", "demo-gcg2", ("gcg",), None, "Gustavo GCG"),
    ("auditor", "demo-auditor", ("auditor",), None, "Aude Auditor"),
    ("fp.npl", "demo-fp.npl", ("country",), "NPL", "Nima Sherpa (Nepal)"),
    ("fp.ken", "demo-fp.ken", ("country",), "KEN", "Wanjiru Kamau (Kenya)"),
    ("fp.tun", "demo-fp.tun", ("country",), "TUN", "Leila Ben Salah (Tunisia)"),
    ("fp.civ", "demo-fp.civ", ("country",), "CIV", "Aya Kouassi (Côte d'Ivoire)"),
    ("fp.per", "demo-fp.per", ("country",), "PER", "Rosa Quispe (Peru)"),
    ("fp.vnm", "demo-fp.vnm", ("country",), "VNM", "Nguyen Thi Lan (Viet Nam)"),
)
"""Every demo account with its password (listed in the README)."""

DEMO_LOCALES = {"fp.tun": "fr", "fp.civ": "fr", "fp.per": "es"}
"""The demo users who read Pathfinder in French or Spanish (everyone else: their browser's)."""


@dataclass(frozen=True)
class Country:
    """One demo country: when its case opens, where it stops, and how its reviews go."""

    iso: str
    name: str
    region: str
    minister: str
    ministry: str
    official: str
    start: date | None
    """When the approach was registered; None means a few days ago."""
    stop_at: str | None = None
    """Leave the case with this task open; None drives it until the real now."""
    eoi_sent_back: bool = False
    reviews: tuple[str, ...] = field(default_factory=tuple)
    """Annual review outcomes in turn: progress | justified | unjustified (then progress)."""
    hold_confirmed: bool = True
    """What the GCG decides when two unjustified reviews in a row ask it to hold the status."""
    sends_reports: bool = True
    """False: the country never sends its annual report (each review goes ahead without it)."""
    meeting_postponed: bool = False
    """The Secretariat reschedules the GCG meeting once, a month later."""
    closed_when_stalled_at: str | None = None
    documents_progress: bool = True
    """False: while on hold the country documents nothing; a good review reinstates it."""
    workplan_revision: tuple[int, str] | None = None
    """(review number, "accepted" | "refused"): the country proposes a revised workplan then."""
    """The country stops answering at this task: the Secretariat closes the case a year on."""


# fmt: off
COUNTRIES = (
    Country(
        "NPL", "Nepal", "Asia-Pacific", "Hon. Sarita Giri",
        "Ministry of Labour, Employment and Social Security", "Bishnu Prasad Adhikari",
        date(2021, 3, 1), reviews=("progress", "justified", "progress", "progress"),
        workplan_revision=(2, "accepted"),
    ),
    Country(
        "TUN", "Tunisia", "Arab States", "H.E. Malek Zahi", "Ministry of Social Affairs",
        "Raoudha Laabidi", date(2021, 5, 10), stop_at="assess_documented_progress",
        reviews=("unjustified", "unjustified"), workplan_revision=(1, "refused"),
    ),
    Country(
        "VNM", "Viet Nam", "Asia-Pacific", "H.E. Dao Ngoc Dung",
        "Ministry of Labour, Invalids and Social Affairs", "Le Thi Hoa", date(2023, 9, 4),
        stop_at="consider_country_report",
    ),
    Country(
        "CIV", "Côte d'Ivoire", "Africa", "H.E. Adama Kamara",
        "Ministry of Employment and Social Protection", "Patricia Yao", date(2024, 2, 5),
        stop_at="submit_workshop_report", eoi_sent_back=True,
    ),
    Country(
        "PER", "Peru", "Americas", "Hon. Betssy Chávez",
        "Ministry of Labour and Employment Promotion", "Carlos Mendoza", date(2025, 9, 1),
        stop_at="review_expression_of_interest",
    ),
    Country(
        "KEN", "Kenya", "Africa", "Hon. Florence Bore", "Ministry of Labour and Social Protection",
        "Joseph Mwangi", date(2026, 6, 1), stop_at="submit_expression_of_interest",
    ),
    Country(
        "UGA", "Uganda", "Africa", "Hon. Betty Amongi",
        "Ministry of Gender, Labour and Social Development", "Aggrey David Kibenge",
        date(2021, 9, 6), stop_at="decide_on_hold", sends_reports=False,
        reviews=("unjustified", "unjustified"),
    ),
    Country(
        "MDG", "Madagascar", "Africa", "Hon. Gisèle Ranampy",
        "Ministry of Labour, Employment and Social Laws", "Hery Rakoto", date(2021, 7, 5),
        reviews=("unjustified", "unjustified", "progress"), hold_confirmed=False,
    ),
    Country(
        "MWI", "Malawi", "Africa", "Hon. Vitumbiko Mumba", "Ministry of Labour",
        "Chikondi Banda", date(2021, 8, 2), documents_progress=False,
        reviews=("unjustified", "unjustified", "progress"),
    ),
    Country(
        "CHL", "Chile", "Americas", "Hon. Jeannette Jara", "Ministry of Labour and Social Security",
        "Camila Rojas", date(2026, 10, 12), meeting_postponed=True,
        stop_at="record_observer_participation",
    ),
    Country(
        "ARG", "Argentina", "Americas", "Hon. Claudio Moroni",
        "Ministry of Labour, Employment and Social Security", "Lucía Fernández",
        date(2022, 4, 4), closed_when_stalled_at="submit_workshop_report",
    ),
    Country(
        "ETH", "Ethiopia", "Africa", "H.E. Muferiat Kamil", "Ministry of Labour and Skills",
        "Alemu Bekele", None, stop_at="register_approach",
    ),
)

DELAYS = {
    "register_approach": 3, "invite_to_gcg_meeting": 6, "record_observer_participation": 2,
    "submit_expression_of_interest": 45, "review_expression_of_interest": 12,
    "submit_workshop_report": 160, "review_workshop_report": 20, "report_back_to_gcg": 40,
    "consider_country_report": 25, "send_confirmation_letter": 14,
    "record_support_to_alliance": 200, "submit_annual_progress_report": 21,
    "prepare_annual_review": 14, "decide_annual_review": 10, "document_progress": 90,
    "assess_documented_progress": 20, "decide_on_hold": 21,
}
"""Days a person typically takes over each task (the clock moves this much before completing)."""

Payload = Callable[[Country, date, int], dict[str, Any]]
TOPICS = ["forced_labour", "human_trafficking", "child_labour"]


def _d(day: date, days: int = 0) -> str:
    return (day + timedelta(days=days)).isoformat()


def _slug(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c == " ").replace(" ", ".")


def _workplan(c: Country, day: date) -> list[dict[str, Any]]:
    return [
        {
            "priority_area": "Child labour in agriculture",
            "outcome": "Fewer children working on family farms",
            "activity": "Extend labour inspection to rural districts and train 200 inspectors",
            "responsible_agency": c.ministry, "partners": "ILO, UNICEF, farmers' unions",
            "start": _d(day, 30), "end": _d(day, 30 + 3 * 365), "budget_usd": 1_250_000,
            "budget_source": "secured", "sdg_indicator": "8.7.1",
            "indicator": "Children 5-17 in child labour (%)", "baseline": "22.8% (2019)",
            "target": "18.8% (2025)", "data_source": "National child labour survey",
            "benchmark_date": _d(day, 395), "baseline_value": 22.8, "target_value": 18.8,
            "benchmark_value": 21.5,
        },
        {
            "priority_area": "Forced labour in recruitment",
            "outcome": "Fair recruitment of migrant workers",
            "activity": "License recruitment agencies and open a complaints hotline",
            "responsible_agency": "Department of Foreign Employment",
            "partners": "IOM, trade unions", "start": _d(day, 60), "end": _d(day, 60 + 2 * 365),
            "budget_usd": 480_000, "budget_source": "gap", "sdg_indicator": "16.2.2",
            "indicator": "Detected victims of trafficking per 100,000", "baseline": "1.9 (2020)",
            "target": "4.0 detected (2024)", "data_source": "Police records",
        },
    ]


def _revision(c: Country, day: date, n: int) -> dict[str, Any]:
    """The proposal in the annual report of review n + 1, if the country makes one then."""
    if not c.workplan_revision or c.workplan_revision[0] != n + 1:
        return {}
    revised = _workplan(c, day)
    revised[0].update(
        target="17.5% (2028)", target_value=17.5, benchmark_date=_d(day, 365), benchmark_value=20.0
    )
    return {
        "proposed_workplan": revised,
        "workplan_revision_reason": "The national survey moved a year; the targets follow it.",
    }


def _indicators(review: int) -> list[dict[str, Any]]:
    return [
        {
            "workplan_indicator": "Share of children 5-17 in child labour",
            "indicator": "8.7.1", "description": "Children 5-17 in child labour (%)",
            "baseline": 22.8, "target": 18.8, "value": round(22.8 - 0.9 * review, 1),
            "data_source": "Labour force survey",
        },
    ]


PAYLOADS: dict[str, Payload] = {
    "register_approach": lambda c, d, n: {
        "approached_via": "secretariat", "approach_date": _d(d, -2), "region": c.region,
        "contact_name": c.official, "contact_title": "Permanent Secretary", "ministry": c.ministry,
        "contact_email": f"{_slug(c.official)}@gov.example.org",
        "approach_notes": f"{c.name} asked to attend the next GCG meeting as an observer.",
    },
    "invite_to_gcg_meeting": lambda c, d, n: {
        "gcg_meeting_date": _d(d, 35), "gcg_meeting_format": "videoconference",
        "invitation_sent_on": _d(d),
        "invitation_notes": "Invitation sent to the focal point and the mission in Geneva.",
    },
    "record_observer_participation": lambda c, d, n: {
        "observer_took_part": True, "participation_mode": "videoconference",
        "commitment_expressed": f"{c.name} intends to become a pathfinder country.",
        "topics_addressed": TOPICS,
    },
    "submit_expression_of_interest": lambda c, d, n: {
        "letter_date": _d(d, -3), "signed_by_minister": True, "minister_name": c.minister,
        "ministry": c.ministry, "addressee": "ilo_director_general",
        "senior_official_name": c.official, "senior_official_title": "Director, Labour Standards",
        "senior_official_email": f"{_slug(c.official)}@gov.example.org",
        "topics_covered": TOPICS if n else TOPICS[:1],
        "commitments": ["national_action_plan", "call_to_action"]
        + (["ratification_of_standards"] if n else []),
        "conventions_ratified": ["C029", "C138", "C182"],
        "letter_url": f"https://docs.example.org/{c.iso.lower()}/eoi.pdf",
        "summary": f"{c.name} commits to accelerate action on Target 8.7 (national action plan).",
    },
    "review_expression_of_interest": lambda c, d, n: (
        {
            "eoi_checks": ["sent_via_responsible_minister", "correctly_addressed"],
            "eoi_decision": "sent_back",
            "eoi_review_comments": "Please name your commitments on trafficking and ratification.",
        }
        if c.eoi_sent_back and n == 0
        else {
            "eoi_checks": [
                "sent_via_responsible_minister", "senior_official_appointed", "commitments_stated",
                "correctly_addressed",
            ],
            "eoi_decision": "accepted",
        }
    ),
    "submit_workshop_report": lambda c, d, n: {
        "workshop_start": _d(d, -20), "workshop_end": _d(d, -18),
        "workshop_venue": f"Capital of {c.name}",
        "participant_groups": [
            "ministries", "private_sector", "civil_society", "workers_organisations",
            "employers_organisations", "survivors_and_affected_groups", "un_agencies",
        ],
        "participant_count": 86,
        "progress_assessment": "Progress on child labour; trafficking data remain weak.",
        "gaps": "Labour inspection in rural areas; victim identification.",
        "priorities": "Agriculture, recruitment.",
        "roadmap_summary": "A five-year roadmap with yearly benchmarks.",
        "roadmap_url": f"https://docs.example.org/{c.iso.lower()}/roadmap.pdf",
        "workplan": _workplan(c, d),
    },
    "review_workshop_report": lambda c, d, n: {
        "workshop_inclusive": True, "workplan_measurable": True, "workshop_decision": "accepted",
        "workshop_review_comments": "Inclusive workshop; measurable workplan.",
    },
    "report_back_to_gcg": lambda c, d, n: {
        "report_date": _d(d), "presented_by": c.official,
        "report_summary": "Workshop held, roadmap and workplan adopted.",
        "report_url": f"https://docs.example.org/{c.iso.lower()}/gcg-report.pdf",
    },
    "consider_country_report": lambda c, d, n: {
        "gcg_decision_date": _d(d), "gcg_decision": "endorse_award",
        "gcg_comments": "Endorsed unanimously.",
    },
    "send_confirmation_letter": lambda c, d, n: {
        "confirmation_letter_date": _d(d), "minister_name": c.minister, "ministry": c.ministry,
        "letter_reference": f"A87/{d.year}/{c.iso}",
    },
    "record_support_to_alliance": lambda c, d, n: {
        "support_date": _d(d),
        **(
            {"support_form": "action_group_participation", "action_group": "supply_chains",
             "support_type": ["technical", "financial"],
             "support_description": "Joined the Supply Chains action group; shared its toolkit."}
            if n % 2 == 0
            else {"support_form": "political_support", "support_level": "regional",
                  "initiative_role": "convening",
                  "support_description": f"Convened a {c.region} meeting on Target 8.7."}
        ),
    },
    "submit_annual_progress_report": lambda c, d, n: {
        "period_start": _d(d, -365), "period_end": _d(d, -1),
        "action_status": [
            {
                "activity": "Labour inspection in rural districts", "status": "on_track",
                "comment": "120 inspectors trained",
            }
        ],
        "indicator_values": _indicators(n + 1),
        "vnr_link": f"https://hlpf.example.org/vnr/{c.iso.lower()}",
        "vnr_year": d.year,
        **(
            {"knowledge_platform_contribution": "shared",
             "knowledge_platform_link": f"https://kp.example.org/{c.iso.lower()}/{d.year}"}
            if n % 2 == 0
            else {"knowledge_platform_contribution": "not_shared",
                  "knowledge_platform_reason": "The survey results are not yet published."}
        ),
        "challenges": "Funding gap for the recruitment action.",
        **_revision(c, d, n),
    },
    "prepare_annual_review": lambda c, d, n: {
        "evidence_summary": "Progress report and indicator values checked against the workplan.",
        "recommendation": {
            "progress": "substantial_progress", "justified": "justified_shortfall",
        }.get(_review(c, n), "unjustified_shortfall"),
    },
    "decide_annual_review": lambda c, d, n: _decision(c, d, n),
    "document_progress": lambda c, d, n: {
        "documented_on": _d(d), "progress_summary": "Inspection coverage doubled; hotline open.",
        "indicator_values": _indicators(2),
        "evidence_url": f"https://docs.example.org/{c.iso.lower()}/evidence.pdf",
    },
    "assess_documented_progress": lambda c, d, n: {"progress_decision": "accepted"},
    "decide_on_hold": lambda c, d, n: {
        "hold_decision_date": _d(d),
        "hold_confirmed": c.hold_confirmed,
        "hold_decision_reason": (
            "Two years without progress or explanation; the GCG holds the status."
            if c.hold_confirmed
            else "A new government took office; the GCG keeps the status and reviews next year."
        ),
        **({"hold_letter_date": _d(d, 3)} if c.hold_confirmed else {}),
    },
}
"""A realistic payload per user task id: (country, today, times done before) -> form data."""
# fmt: on


def _review(c: Country, n: int) -> str:
    return c.reviews[n] if n < len(c.reviews) else "progress"


def _decision(c: Country, day: date, n: int) -> dict[str, Any]:
    outcome = _review(c, n)
    data: dict[str, Any] = {
        "review_date": _d(day),
        "reviewers": "Secretariat and two GCG members",
        "substantial_progress": outcome == "progress",
    }
    if outcome != "progress":
        data["reasonable_justification"] = outcome == "justified"
        data["justification_text"] = (
            "Elections delayed the budget; the country showed a credible recovery plan."
            if outcome == "justified"
            else "No activity reported and no explanation given."
        )
        data["evidence_to_reinstate"] = "Evidence that inspection and hotline actions have started."
    if c.workplan_revision and c.workplan_revision[0] == n + 1:
        data["workplan_revision_decision"] = c.workplan_revision[1]
        data["workplan_revision_comments"] = (
            "The new survey calendar is confirmed; the revised benchmarks are realistic."
            if c.workplan_revision[1] == "accepted"
            else "The proposal lowers the targets without a reason the review could check."
        )
    return data


def synthesize(schema: dict[str, Any], day: date) -> dict[str, Any]:
    """Minimal valid-looking data for a form without a hand-written payload (required fields)."""
    out: dict[str, Any] = {}
    for key in schema.get("required") or []:
        prop = (schema.get("properties") or {}).get(key) or {}
        out[key] = _sample(prop, day)
    return out


def _sample(prop: dict[str, Any], day: date) -> Any:
    kind = prop.get("type", "string")
    if "enum" in prop:
        return prop["enum"][0]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(1, int(prop.get("minimum", 1)))
    if kind == "array":
        return [_sample(prop.get("items") or {}, day)]
    if kind == "object":
        return synthesize(prop, day)
    fmt = prop.get("format")
    if fmt == "date":  # a date that must come after another one (x-after) is a day later
        return (day + timedelta(days=1 if prop.get("x-after") else 0)).isoformat()
    if fmt == "email":
        return "demo@example.org"
    if fmt == "uri":
        return "https://example.org/demo"
    return "Demo entry"


# ------------------------------------------------------------------------------------ driving


def _delay(element_id: str) -> timedelta:
    return timedelta(days=DELAYS.get(element_id, 7), hours=len(element_id) % 7)


class _Driver:
    """Drives one country's case on the virtual clock until its stop task or the real now."""

    def __init__(
        self, engine: Engine, clock: VirtualClock, actors: dict[str, Actor], end: datetime
    ) -> None:
        self.engine, self.clock, self.actors, self.end = engine, clock, actors, end

    def _actor(self, lane: str | None, country: str, lane_roles: dict[str, str]) -> Actor:
        role = role_for_lane(lane, lane_roles) or "secretariat"
        admin = next(a for a in self.actors.values() if a.is_admin)
        if role == "country":
            mine = [a for a in self.actors.values() if a.has("country") and a.country == country]
            return mine[0] if mine else admin
        return next((a for a in self.actors.values() if role in a.roles), admin)

    def _next_timer(self, instance_id: int) -> datetime | None:
        with self.engine.session() as s:
            return s.execute(
                select(func.min(TimerJob.due_at)).where(TimerJob.instance_id == instance_id)
            ).scalar()

    def wait_until(self, instance_id: int, target: datetime) -> bool:
        """Move the clock to `target`, firing due timers on the way; False past the real now."""
        last: datetime | None = None
        while (due := self._next_timer(instance_id)) is not None and due <= min(target, self.end):
            # A minute past the due time: a timer is not due at exactly its due instant.
            step = (
                due + timedelta(minutes=1) if due != last else self.clock.now() + timedelta(hours=1)
            )
            self.clock.set(max(step, self.clock.now()))
            self.engine.fire_due_timers()
            last = due
        if target > self.end:
            return False
        self.clock.set(max(target, self.clock.now()))
        return True

    def run(self, c: Country, instance_id: int) -> Iterator[str]:
        done: dict[str, int] = {}
        with self.engine.session() as s:
            model = s.get(ProcessModel, PROCESS)
            lane_roles = dict(model.lane_roles or {}) if model else {}
        for _ in range(1000):
            inst = self.engine.instance(instance_id)
            if inst.status != "running":
                return
            tasks = self.engine.ready_tasks(instance_id)
            if c.stop_at and any(t.element_id == c.stop_at for t in tasks):
                return
            stalled = [t for t in tasks if t.element_id == c.closed_when_stalled_at]
            if stalled:
                yield from self._close_stalled(c, instance_id, stalled[0])
                return
            if not c.sends_reports:  # the report's due date passes; the review goes on without
                tasks = [t for t in tasks if t.element_id != "submit_annual_progress_report"]
            if not c.documents_progress:  # on hold, it waits for the next review instead
                tasks = [t for t in tasks if t.element_id != "document_progress"]
            if not tasks:
                due = self._next_timer(instance_id)
                if due is None or not self.wait_until(instance_id, due):
                    return
                continue
            task = min(tasks, key=lambda t: t.created_at + _delay(t.element_id))
            due = self._next_timer(instance_id)
            if due is not None and due < task.created_at + _delay(task.element_id):
                # A timer comes first (an anniversary opens the annual report): fire it, then
                # choose again, so a long side task does not let the report's due date pass.
                if not self.wait_until(instance_id, due):
                    return
                continue
            if not self.wait_until(instance_id, task.created_at + _delay(task.element_id)):
                return
            if task.id not in {t.id for t in self.engine.ready_tasks(instance_id)}:
                continue  # a timer or message in the meantime closed it
            data = self._payload(c, task, done.get(task.element_id, 0), inst)
            try:
                self.engine.complete(task.id, data, self._actor(task.lane, c.iso, lane_roles))
            except EngineError as err:
                yield f"  {c.iso}: could not complete '{task.name}': {err.message}"
                return
            done[task.element_id] = done.get(task.element_id, 0) + 1
            if task.element_id == "invite_to_gcg_meeting" and c.meeting_postponed:
                yield from self._postpone_meeting(c, instance_id)

    def _close_stalled(self, c: Country, instance_id: int, task: HumanTask) -> Iterator[str]:
        if not self.wait_until(instance_id, task.created_at + timedelta(days=365)):
            return
        payload = {
            "reason": "No workshop report and no answer to three reminders in a year.",
            "letter_date": self.clock.now().date().isoformat(),
        }
        secretariat = next(a for a in self.actors.values() if "secretariat" in a.roles)
        try:
            self.engine.instances.send_message(instance_id, "case_closure", payload, secretariat)
        except EngineError as err:
            yield f"  {c.iso}: could not close the stalled case: {err.message}"

    def _postpone_meeting(self, c: Country, instance_id: int) -> Iterator[str]:
        data = self.engine.instance(instance_id).data or {}
        later = date.fromisoformat(str(data["gcg_meeting_date"])) + timedelta(days=30)
        payload = {
            "gcg_meeting_date": later.isoformat(),
            "reason": "The GCG meeting was postponed.",
        }
        secretariat = next(a for a in self.actors.values() if "secretariat" in a.roles)
        try:
            self.engine.instances.send_message(
                instance_id, "gcg_meeting_rescheduled", payload, secretariat
            )
        except EngineError as err:
            yield f"  {c.iso}: could not reschedule the GCG meeting: {err.message}"

    def _payload(self, c: Country, task: HumanTask, n: int, inst: Instance) -> dict[str, Any]:
        today = self.clock.now().date()
        maker = PAYLOADS.get(task.element_id)
        data = maker(c, today, n) if maker else {}
        with self.engine.session() as s:
            version = s.get(Instance, inst.id).process_version  # type: ignore[union-attr]
            form = load_form(version.forms, task.form_file, task.ui_form_file)
        if form is not None and field_errors(form.schema, data):
            # The diagram or the form changed since this payload was written: fill the gaps.
            data = {**synthesize(form.schema, today), **data}
            props = form.schema.get("properties") or {}
            for path in field_errors(form.schema, data):
                key = path.split(".")[0]
                if key in props:
                    data[key] = _sample(props[key], today)
        return data


def _ensure_users(engine: Engine, now: datetime) -> Iterator[str]:
    with transaction(engine.sessions) as s:
        existing = set(s.execute(select(User.username)).scalars())
        for username, password, roles, country, name in DEMO_USERS:
            if username in existing:
                continue
            create_user(
                s,
                username,
                password,
                roles,
                now=now,
                country=country,
                display_name=name,
                email=f"{username}@pathfinder.example.org",
                locale=DEMO_LOCALES.get(username),
            )
            where = f" {country}" if country else ""
            yield f"user {username} ({', '.join(roles)}{where}) password {password}"


def seed(settings: Settings, *, now: datetime | None = None) -> Iterator[str]:
    """Create the demo users and countries (skipping any that exist); yields what it did."""
    end = now or datetime.now(UTC)
    earliest = min(c.start for c in COUNTRIES if c.start)
    clock = VirtualClock(datetime(earliest.year, earliest.month, earliest.day, 9, tzinfo=UTC))
    engine = Engine.from_settings(settings, clock)
    yield from _ensure_users(engine, end)
    with engine.session() as s:
        if s.get(ProcessModel, PROCESS) is None:
            yield f"process '{PROCESS}' is not deployed; run `pathfinder deploy --bundled` first"
            return
        users = {u.username: actor_for(u) for u in s.execute(select(User)).scalars()}
        started = set(
            s.execute(select(Instance.country).where(Instance.process_key == PROCESS)).scalars()
        )
    driver = _Driver(engine, clock, users, end)
    for c in COUNTRIES:
        begin = c.start or (end - timedelta(days=3)).date()
        if c.iso in started or begin > end.date():
            continue
        clock.set(datetime(begin.year, begin.month, begin.day, 9, tzinfo=UTC))
        inst = engine.start(
            PROCESS, {"country": c.iso, "country_name": c.name}, users["secretariat"]
        )
        yield from driver.run(c, inst.id)
        final = engine.instance(inst.id)
        waiting = ", ".join(t.name for t in engine.ready_tasks(inst.id)) or "a date"
        status = (final.data or {}).get("pathfinder_status", "")
        yield f"{c.name} ({c.iso}): stage {final.stage}, {status}; waiting for {waiting}"


def drive(
    engine: Engine,
    clock: VirtualClock,
    instance_id: int,
    *,
    stop_at: str | None,
    actors: dict[str, Actor],
    end: datetime | None = None,
) -> list[str]:
    """Advance one pathfinder case with the demo payloads until `stop_at` is ready (for tests
    and simulations). Country tasks are done by `fp.<iso>` if present, else by an admin."""
    iso = engine.instance(instance_id).country or "NPL"
    known = {c.iso: c for c in COUNTRIES}
    country = known.get(iso) or Country(
        iso, iso, "Africa", "Hon. Minister", "Ministry of Labour", "Senior Official", None
    )
    country = Country(**{**country.__dict__, "stop_at": stop_at})
    driver = _Driver(engine, clock, actors, end or clock.now() + timedelta(days=3650))
    return list(driver.run(country, instance_id))
