"""The blueprint class every API module uses: operations are tagged with the module's section.

flask-smorest ships without type hints; `ApiBlueprint` re-declares the decorators the API uses
with typed signatures, so `mypy --strict` checks the routes, and it carries its own arguments
parser and content-type mapping (for multipart bodies) instead of patching flask-smorest's
classes at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_smorest import Blueprint
from werkzeug.datastructures import CombinedMultiDict

F = TypeVar("F", bound=Callable[..., Any])

ID = "int(min=1, max=2147483647)"
"""URL converter for numeric ids: larger numbers cannot exist, and answer 404 at routing."""


MULTIPART = "multipart"
"""An arguments location for multipart bodies with files *and* fields in one schema (webargs
reads `files` and `form` separately; OpenAPI 3 wants one multipart/form-data body)."""


class ApiArgumentsParser(type(Blueprint.ARGUMENTS_PARSER)):  # type: ignore[misc]
    """flask-smorest's arguments parser with the `multipart` location added."""

    def load_multipart(self, request: Any, schema: Any) -> Any:
        """Files and form fields of a multipart body, as one mapping for one schema."""
        return self._makeproxy(CombinedMultiDict([request.files, request.form]), schema)

    __location_map__ = {
        **type(Blueprint.ARGUMENTS_PARSER).__location_map__,
        MULTIPART: "load_multipart",
    }


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose routes are tagged with its `description`'s section name."""

    ARGUMENTS_PARSER = ApiArgumentsParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        MULTIPART: "multipart/form-data",
    }

    def __init__(
        self, name: str, import_name: str, *, tag: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, import_name, **kwargs)
        self.tag = tag or name.replace("_", " ").title()

    def route(
        self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any
    ) -> Callable[[F], F]:
        """Register a route (a view function or a `MethodView`), tagged with this section."""
        decorate: Callable[[F], F] = super().route(
            rule, parameters=parameters, tags=tags or [self.tag], **options
        )
        return decorate

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[F], F]:
        """Parse and validate the request's arguments with `schema` (flask-smorest). A schema
        class is instantiated once here: webargs would build (and deep-copy the fields of) a
        new instance on every request. The OpenAPI document is the same either way."""
        if isinstance(schema, type):
            schema = schema()
        decorate: Callable[[F], F] = super().arguments(schema, **kwargs)
        return decorate

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Callable[[F], F]:
        """Serialize the view's return value with `schema` (flask-smorest)."""
        decorate: Callable[[F], F] = super().response(status_code, schema, **kwargs)
        return decorate

    def alt_response(self, status_code: int, **kwargs: Any) -> Callable[[F], F]:
        """Document another response the operation may give (flask-smorest)."""
        decorate: Callable[[F], F] = super().alt_response(status_code, **kwargs)
        return decorate

    def doc(self, **kwargs: Any) -> Callable[[F], F]:
        """Add to the operation's OpenAPI document (flask-smorest)."""
        decorate: Callable[[F], F] = super().doc(**kwargs)
        return decorate

    def problems(self, *statuses: int) -> Callable[[F], F]:
        """Document the problem+json responses an operation may give (`Problem<status>`)."""

        def decorate(func: F) -> F:
            for status in reversed(statuses):
                func = self.alt_response(status, response=f"Problem{status}")(func)
            return func

        return decorate
