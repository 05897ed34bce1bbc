"""Demo data: a user for every role and a handful of countries at different stages.

`seed(settings)` drives the deployed pathfinder process on a virtual clock that starts a few
years back and stops at the real now, completing whichever user tasks become ready with
realistic form data, so the timeline dates look real. Re-running it adds nothing new. The cast
(users, countries) is in `cast`, the form data in `payloads`, the driving in `driver`.
"""

from engine.demo.cast import DEMO_USERS, Country
from engine.demo.driver import drive, seed

__all__ = ["DEMO_USERS", "Country", "drive", "seed"]
