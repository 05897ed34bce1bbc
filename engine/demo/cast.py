"""The demo's cast: a user for every role, and the countries at different stages of the process.

Each `Country` says where its case stops (`stop_at`) and what its focal point and ministry are
called, so the payloads read like real correspondence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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
