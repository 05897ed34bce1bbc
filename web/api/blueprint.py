"""The blueprint class every API module uses: operations are tagged with the module's section."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from werkzeug.datastructures import CombinedMultiDict

ID = "int(min=1, max=2147483647)"
"""URL converter for numeric ids: larger numbers cannot exist, and answer 404 at routing."""


MULTIPART = "multipart"
"""An arguments location for multipart bodies with files *and* fields in one schema (webargs
reads `files` and `form` separately; OpenAPI 3 wants one multipart/form-data body)."""


def _load_multipart(request: Any, schema: Any) -> Any:
    parser = Blueprint.ARGUMENTS_PARSER
    return parser._makeproxy(CombinedMultiDict([request.files, request.form]), schema)


Blueprint.ARGUMENTS_PARSER.location_loader(MULTIPART)(_load_multipart)
# The OpenAPI document is prepared by the outer `api` blueprint, so the mapping is set on the
# class every blueprint shares.
Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING[MULTIPART] = "multipart/form-data"


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose routes are tagged with its `description`'s section name."""

    def __init__(
        self, name: str, import_name: str, *, tag: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, import_name, **kwargs)
        self.tag = tag or name.replace("_", " ").title()

    def route(self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any) -> Any:
        return super().route(rule, parameters=parameters, tags=tags or [self.tag], **options)

    def problems(self, *statuses: int) -> Any:
        """Document the problem+json responses an operation may give (`Problem<status>`)."""

        def decorate(func: Any) -> Any:
            for status in reversed(statuses):
                func = self.alt_response(status, response=f"Problem{status}")(func)
            return func

        return decorate
