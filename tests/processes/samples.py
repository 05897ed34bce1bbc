"""Form data a person would plausibly type, one valid sample per user task of pathfinder.bpmn.

Scenario tests submit these (with overrides); the form tests check that each one validates
against its JSON Schema and that a broken copy does not.
"""

from __future__ import annotations

import copy
from typing import Any

INDICATOR = {
    "workplan_indicator": "Share of children aged 5-17 in child labour in the target districts",
    "baseline": 22.8,
    "target": 18.8,
    "value": 21.0,
    "comment": "Inspections reached 32 of the 40 districts.",
    "indicator": "8.7.1",
    "data_source": "National Labour Force Survey",
}

WORKPLAN_ACTION = {
    "priority_area": "Child labour in agriculture",
    "outcome": "Fewer children working in tea and coffee estates",
    "activity": "Extend labour inspection to 40 districts with child labour monitoring",
    "responsible_agency": "Ministry of Labour, Employment and Social Security",
    "partners": "ILO, UNICEF, General Federation of Nepalese Trade Unions, FNCCI",
    "start": "2027-07-01",
    "end": "2029-06-30",
    "budget_usd": 1_200_000,
    "budget_source": "gap",
    "sdg_indicator": "8.7.1",
    "indicator": "Share of children aged 5-17 in child labour in the target districts",
    "baseline": "22.8% (2026)",
    "target": "18.8% (2029)",
    "data_source": "National Labour Force Survey",
    "benchmark_date": "2028-06-30",
    "baseline_value": 22.8,
    "target_value": 18.8,
    "benchmark_value": 21.0,
}

VALID: dict[str, dict[str, Any]] = {
    "register_approach": {
        "approached_via": "secretariat",
        "approach_date": "2027-01-03",
        "region": "Asia-Pacific",
        "contact_name": "Sita Sharma",
        "contact_title": "Joint Secretary",
        "contact_email": "sita.sharma@moless.gov.np",
        "ministry": "Ministry of Labour, Employment and Social Security",
    },
    "invite_to_gcg_meeting": {
        "gcg_meeting_date": "2027-02-15",
        "gcg_meeting_format": "videoconference",
        "invitation_sent_on": "2027-01-05",
    },
    "record_observer_participation": {
        "observer_took_part": True,
        "participation_mode": "videoconference",
        "commitment_expressed": "Nepal commits to end child labour and bonded labour by 2030.",
        "topics_addressed": ["child_labour", "forced_labour"],
    },
    "submit_expression_of_interest": {
        "letter_date": "2027-02-12",
        "signed_by_minister": True,
        "minister_name": "Hon. Ram Bahadur Thapa",
        "ministry": "Ministry of Labour, Employment and Social Security",
        "addressee": "ilo_director_general",
        "senior_official_name": "Sita Sharma",
        "senior_official_title": "Joint Secretary",
        "senior_official_email": "sita.sharma@moless.gov.np",
        "topics_covered": ["child_labour", "forced_labour", "human_trafficking"],
        "commitments": ["national_action_plan", "buenos_aires_declaration"],
        "conventions_ratified": ["C029", "C138", "C182"],
        "letter_url": "https://moless.gov.np/letters/alliance87.pdf",
    },
    "review_expression_of_interest": {
        "eoi_checks": [
            "sent_via_responsible_minister",
            "senior_official_appointed",
            "commitments_stated",
        ],
        "eoi_decision": "accepted",
    },
    "submit_workshop_report": {
        "workshop_start": "2027-06-10",
        "workshop_end": "2027-06-11",
        "workshop_venue": "Kathmandu",
        "participant_groups": [
            "ministries",
            "private_sector",
            "civil_society",
            "workers_organisations",
            "employers_organisations",
            "survivors_and_affected_groups",
        ],
        "participant_count": 85,
        "progress_assessment": "Child labour fell from 40% to 22.8% since 2008; bonded labour persists.",
        "roadmap_summary": "National Master Plan on Child Labour 2027-2030 with four priority areas.",
        "workplan": [WORKPLAN_ACTION],
    },
    "review_workshop_report": {
        "workshop_inclusive": True,
        "workplan_measurable": True,
        "workshop_decision": "accepted",
    },
    "report_back_to_gcg": {
        "report_date": "2027-09-01",
        "presented_by": "Sita Sharma",
        "report_summary": "Workshop held with 85 participants; roadmap and costed workplan adopted.",
    },
    "consider_country_report": {
        "gcg_decision_date": "2027-09-02",
        "gcg_decision": "endorse_award",
    },
    "send_confirmation_letter": {
        "confirmation_letter_date": "2027-09-15",
        "minister_name": "Hon. Ram Bahadur Thapa",
        "ministry": "Ministry of Labour, Employment and Social Security",
        "letter_reference": "A87/PF/2027/12",
    },
    "record_support_to_alliance": {
        "support_date": "2028-02-01",
        "support_form": "action_group_participation",
        "action_group": "migration",
        "support_type": ["technical"],
        "support_description": "Co-chaired the Migration action group's meeting on fair recruitment.",
    },
    "submit_annual_progress_report": {
        "period_start": "2027-09-15",
        "period_end": "2028-09-14",
        "action_status": [{"activity": "Labour inspection in 40 districts", "status": "on_track"}],
        "indicator_values": [INDICATOR],
        "vnr_link": "https://hlpf.un.org/countries/nepal",
        "vnr_year": 2028,
        "knowledge_platform_contribution": "shared",
        "knowledge_platform_link": "https://www.alliance87.org/knowledge-platform/nepal-2028",
    },
    "prepare_annual_review": {
        "evidence_summary": "Inspections extended to 32 districts; survey fieldwork under way.",
        "recommendation": "substantial_progress",
    },
    "decide_annual_review": {
        "review_date": "2028-10-01",
        "reviewers": "Secretariat (ILO FUNDAMENTALS) and GCG members",
        "substantial_progress": True,
    },
    "decide_on_hold": {
        "hold_decision_date": "2029-09-15",
        "hold_confirmed": True,
        "hold_decision_reason": "No progress on the workplan for two years and no explanation.",
        "hold_letter_date": "2029-09-20",
    },
    "document_progress": {
        "documented_on": "2030-03-01",
        "progress_summary": "Inspections now cover 40 districts; new survey shows 19.5%.",
        "indicator_values": [INDICATOR],
    },
    "assess_documented_progress": {"progress_decision": "accepted"},
}


def sample(task: str, **overrides: Any) -> dict[str, Any]:
    """A valid submission for `task`, with some fields replaced (None removes a field)."""
    data = copy.deepcopy(VALID[task])
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


SHORTFALL_UNJUSTIFIED = {
    "substantial_progress": False,
    "reasonable_justification": False,
    "justification_text": "No explanation was given for the delays.",
}
SHORTFALL_JUSTIFIED = {
    "substantial_progress": False,
    "reasonable_justification": True,
    "justification_text": "Floods in the Terai halted inspections for six months.",
}

INVALID: dict[str, dict[str, Any]] = {
    # Each breaks one rule a person could break.
    "register_approach": sample("register_approach", contact_email="not-an-email"),
    "invite_to_gcg_meeting": sample("invite_to_gcg_meeting", gcg_meeting_format="telepathy"),
    "record_observer_participation": sample(
        "record_observer_participation", commitment_expressed=None
    ),
    "submit_expression_of_interest": sample(
        "submit_expression_of_interest", addressee="head_of_secretariat"
    ),
    "review_expression_of_interest": sample(
        "review_expression_of_interest", eoi_decision="sent_back"
    ),
    "submit_workshop_report": sample("submit_workshop_report", workplan=[]),
    "review_workshop_report": sample("review_workshop_report", workshop_inclusive=False),
    "report_back_to_gcg": sample("report_back_to_gcg", report_date="1 September 2027"),
    "consider_country_report": sample(
        "consider_country_report", gcg_decision="request_more_information"
    ),
    "send_confirmation_letter": sample("send_confirmation_letter", confirmation_letter_date=None),
    "record_support_to_alliance": sample("record_support_to_alliance", action_group=None),
    "submit_annual_progress_report": sample(
        "submit_annual_progress_report", indicator_values=[{"indicator": "8.7.1"}]
    ),
    "prepare_annual_review": sample("prepare_annual_review", recommendation="maybe"),
    "decide_annual_review": sample("decide_annual_review", substantial_progress=False),
    "decide_on_hold": sample("decide_on_hold", hold_confirmed=True, hold_letter_date=None),
    "document_progress": sample("document_progress", documented_on="2030-02-30"),
    "assess_documented_progress": sample(
        "assess_documented_progress", progress_decision="sent_back"
    ),
}
