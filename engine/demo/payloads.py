"""Realistic form data for each user task of the pathfinder process, dated on the demo clock.

`PAYLOADS` maps a task to a function of the country, the day and the round; `synthesize` fills a
form that changed since a payload was written with plausible values from its schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from engine.demo.cast import Country

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
            "responsible_agency": c.ministry,
            "partners": "ILO, UNICEF, farmers' unions",
            "start": _d(day, 30),
            "end": _d(day, 30 + 3 * 365),
            "budget_usd": 1_250_000,
            "budget_source": "secured",
            "sdg_indicator": "8.7.1",
            "indicator": "Children 5-17 in child labour (%)",
            "baseline": "22.8% (2019)",
            "target": "18.8% (2025)",
            "data_source": "National child labour survey",
            "benchmark_date": _d(day, 395),
            "baseline_value": 22.8,
            "target_value": 18.8,
            "benchmark_value": 21.5,
        },
        {
            "priority_area": "Forced labour in recruitment",
            "outcome": "Fair recruitment of migrant workers",
            "activity": "License recruitment agencies and open a complaints hotline",
            "responsible_agency": "Department of Foreign Employment",
            "partners": "IOM, trade unions",
            "start": _d(day, 60),
            "end": _d(day, 60 + 2 * 365),
            "budget_usd": 480_000,
            "budget_source": "gap",
            "sdg_indicator": "16.2.2",
            "indicator": "Detected victims of trafficking per 100,000",
            "baseline": "1.9 (2020)",
            "target": "4.0 detected (2024)",
            "data_source": "Police records",
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


def reached(actions: Any, review: int) -> list[dict[str, Any]]:
    """The annual report's rows: one per indicator of the workplan in force (the form gives the
    indicator, baseline and target), each with the value reached after `review` years."""
    rows = []
    for action in actions if isinstance(actions, list) else []:
        base, target = action.get("baseline_value"), action.get("target_value")
        if isinstance(base, int | float) and isinstance(target, int | float):
            value = round(base + (target - base) * min(1.0, 0.3 * review), 1)
            comment = "From the national survey."
        else:
            value, comment = float(review), "Counted from administrative records; no target set."
        rows.append({"value": value, "comment": comment})
    return rows


def _indicators(review: int) -> list[dict[str, Any]]:
    return [
        {
            "workplan_indicator": "Share of children 5-17 in child labour",
            "indicator": "8.7.1",
            "description": "Children 5-17 in child labour (%)",
            "baseline": 22.8,
            "target": 18.8,
            "value": round(22.8 - 0.9 * review, 1),
            "data_source": "Labour force survey",
        },
    ]


PAYLOADS: dict[str, Payload] = {
    "register_approach": lambda c, d, n: {
        "approached_via": "secretariat",
        "approach_date": _d(d, -2),
        "region": c.region,
        "contact_name": c.official,
        "contact_title": "Permanent Secretary",
        "ministry": c.ministry,
        "contact_email": f"{_slug(c.official)}@gov.example.org",
        "approach_notes": f"{c.name} asked to attend the next GCG meeting as an observer.",
    },
    "invite_to_gcg_meeting": lambda c, d, n: {
        "gcg_meeting_date": _d(d, 35),
        "gcg_meeting_format": "videoconference",
        "invitation_sent_on": _d(d),
        "invitation_notes": "Invitation sent to the focal point and the mission in Geneva.",
    },
    "record_observer_participation": lambda c, d, n: {
        "observer_took_part": True,
        "participation_mode": "videoconference",
        "commitment_expressed": f"{c.name} intends to become a pathfinder country.",
        "topics_addressed": TOPICS,
    },
    "submit_expression_of_interest": lambda c, d, n: {
        "letter_date": _d(d, -3),
        "signed_by_minister": True,
        "minister_name": c.minister,
        "ministry": c.ministry,
        "addressee": "ilo_director_general",
        "senior_official_name": c.official,
        "senior_official_title": "Director, Labour Standards",
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
                "sent_via_responsible_minister",
                "senior_official_appointed",
                "commitments_stated",
                "correctly_addressed",
            ],
            "eoi_decision": "accepted",
        }
    ),
    "submit_workshop_report": lambda c, d, n: {
        "workshop_start": _d(d, -20),
        "workshop_end": _d(d, -18),
        "workshop_venue": f"Capital of {c.name}",
        "participant_groups": [
            "ministries",
            "private_sector",
            "civil_society",
            "workers_organisations",
            "employers_organisations",
            "survivors_and_affected_groups",
            "un_agencies",
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
        "workshop_inclusive": True,
        "workplan_measurable": True,
        "workshop_decision": "accepted",
        "workshop_review_comments": "Inclusive workshop; measurable workplan.",
    },
    "report_back_to_gcg": lambda c, d, n: {
        "report_date": _d(d),
        "presented_by": c.official,
        "report_summary": "Workshop held, roadmap and workplan adopted.",
        "report_url": f"https://docs.example.org/{c.iso.lower()}/gcg-report.pdf",
    },
    "consider_country_report": lambda c, d, n: {
        "gcg_decision_date": _d(d),
        "gcg_decision": "endorse_award",
        "gcg_comments": "Endorsed unanimously.",
    },
    "send_confirmation_letter": lambda c, d, n: {
        "confirmation_letter_date": _d(d),
        "minister_name": c.minister,
        "ministry": c.ministry,
        "letter_reference": f"A87/{d.year}/{c.iso}",
    },
    "record_support_to_alliance": lambda c, d, n: {
        "support_date": _d(d),
        **(
            {
                "support_form": "action_group_participation",
                "action_group": "supply_chains",
                "support_type": ["technical", "financial"],
                "support_description": "Joined the Supply Chains action group; shared its toolkit.",
            }
            if n % 2 == 0
            else {
                "support_form": "political_support",
                "support_level": "regional",
                "initiative_role": "convening",
                "support_description": f"Convened a {c.region} meeting on Target 8.7.",
            }
        ),
    },
    "submit_annual_progress_report": lambda c, d, n: {
        "period_start": _d(d, -365),
        "period_end": _d(d, -1),
        "action_status": [
            {
                "activity": "Labour inspection in rural districts",
                "status": "on_track",
                "comment": "120 inspectors trained",
            }
        ],
        "indicator_values": [],  # one row per workplan indicator: see driver._payload
        "vnr_link": f"https://hlpf.example.org/vnr/{c.iso.lower()}",
        "vnr_year": d.year,
        **(
            {
                "knowledge_platform_contribution": "shared",
                "knowledge_platform_link": f"https://kp.example.org/{c.iso.lower()}/{d.year}",
            }
            if n % 2 == 0
            else {
                "knowledge_platform_contribution": "not_shared",
                "knowledge_platform_reason": "The survey results are not yet published.",
            }
        ),
        "challenges": "Funding gap for the recruitment action.",
        **_revision(c, d, n),
    },
    "prepare_annual_review": lambda c, d, n: {
        "evidence_summary": "Progress report and indicator values checked against the workplan.",
        "recommendation": {
            "progress": "substantial_progress",
            "justified": "justified_shortfall",
        }.get(_review(c, n), "unjustified_shortfall"),
    },
    "decide_annual_review": lambda c, d, n: _decision(c, d, n),
    "document_progress": lambda c, d, n: {
        "documented_on": _d(d),
        "progress_summary": "Inspection coverage doubled; hotline open.",
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
