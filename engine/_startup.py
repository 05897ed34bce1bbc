"""Keep the import of jsonschema cheap; imported first by `engine/__init__.py`.

`jsonschema` imports every optional format checker it finds when it is first imported. One of
them, `rfc3987_syntax` (pulled in by `jsonschema[format-nongpl]`), builds a Lark grammar at import
and costs about a second of CPU in every `pathfinder` process. It only checks the `iri` and
`iri-reference` formats, which no Pathfinder form uses (`uri` is checked by `rfc3986_validator`).
Marking it absent before jsonschema loads makes jsonschema skip those two formats.
"""

from __future__ import annotations

import sys

SKIPPED_FORMAT_MODULES = ("rfc3987_syntax",)
"""Optional jsonschema format checkers Pathfinder does without (see the module docstring)."""

if "jsonschema" not in sys.modules:
    for _name in SKIPPED_FORMAT_MODULES:
        # None in sys.modules makes `import` raise ImportError, which jsonschema expects.
        sys.modules.setdefault(_name, None)  # type: ignore[arg-type]
