"""Process owners' Models area: the bpmn-js modeller, validation on the diagram, deploys,
upload/download, version diffs, instance migration and simulation.

Every page and endpoint is for the `process_owner` and `admin` roles. The JSON endpoints are
called by `web/static/modeler/*.js` with the CSRF token in the `X-CSRFToken` header. One
blueprint (`modeler`), its routes by topic: `pages` (list, editor, files, upload), `checks`
(validate, deploy), `versions` (diff, migration), `simulate`.
"""

from web.pages.modeler import checks, pages, simulate, versions
from web.pages.modeler.base import bp, form_outputs, init_app
from web.pages.modeler.checks import check

__all__ = ["bp", "check", "checks", "form_outputs", "init_app", "pages", "simulate", "versions"]
