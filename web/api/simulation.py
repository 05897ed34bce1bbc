"""`/simulation`: move the virtual clock of a server started with `--simulate`.

Without simulation both endpoints answer 404, as if they did not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from engine import VirtualClock
from web.api.auth import current_caller, get_engine, require_role
from web.api.blueprint import ApiBlueprint
from web.api.errors import not_found
from web.api.schemas import AdvanceResultSchema, AdvanceSchema, ClockSchema

blp = ApiBlueprint("simulation", __name__, url_prefix="/simulation", description="Virtual clock.")


def _virtual_clock() -> VirtualClock:
    settings = current_app.extensions.get("pathfinder_settings")
    clock = get_engine().clock
    if not (settings is not None and settings.simulate and isinstance(clock, VirtualClock)):
        raise not_found(
            _("Simulation is off: start the server with `pathfinder serve --simulate`.")
        )
    return clock


@blp.route("/clock")
@blp.response(200, ClockSchema)
@blp.alt_response(404, response="Problem404")
def get_clock() -> dict[str, Any]:
    """The simulated time (any signed-in role)"""
    current_caller()
    return {"now": _virtual_clock().now(), "simulated": True}


@blp.route("/advance", methods=["POST"])
@blp.arguments(AdvanceSchema)
@blp.response(200, AdvanceResultSchema)
@blp.problems(403, 404)
def advance(args: dict[str, Any]) -> dict[str, Any]:
    """Move the clock forward and fire every timer that falls due (admins, Secretariat, process
    owners)"""
    clock = _virtual_clock()
    require_role("secretariat", "process_owner")
    target = clock.now() + timedelta(days=args["days"], seconds=args["seconds"])
    fired = get_engine().advance_clock(target)
    return {"now": clock.now(), "simulated": True, "fired": fired}
