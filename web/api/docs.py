"""The OpenAPI document and a plain HTML reference rendered from it (no scripts, no CDN)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, current_app, jsonify, render_template_string, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from web.api.auth import public

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def spec_dict() -> dict[str, Any]:
    api = current_app.extensions["pathfinder_api"]
    spec: dict[str, Any] = api.spec.to_dict()
    return spec


@public
def openapi_json() -> Response:
    return jsonify(spec_dict())


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_of(schema: dict[str, Any] | None) -> dict[str, Any]:
    """`{text, link}` describing a schema in a few words (`array of Task`, `string (date-time)`)."""
    if not schema:
        return {"text": "", "link": None}
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return {"text": name, "link": name}
    kind = schema.get("type", "object")
    if kind == "array":
        inner = _type_of(schema.get("items"))
        return {"text": f"array of {inner['text']}", "link": inner["link"]}
    fmt = schema.get("format")
    text = f"{kind} ({fmt})" if fmt else kind
    if "enum" in schema:
        text += ": " + " | ".join(str(v) for v in schema["enum"])
    if schema.get("nullable"):
        text += ", nullable"
    return {"text": text, "link": None}


def _resolve(spec: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in obj:
        return obj
    section, name = obj["$ref"].split("/")[-2:]
    resolved: dict[str, Any] = spec["components"][section][name]
    return resolved


def _operations(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            params = [_resolve(spec, p) for p in shared + op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {})
            responses = []
            for code, response in op.get("responses", {}).items():
                response = _resolve(spec, response)
                content = response.get("content", {})
                media = next(iter(content), "")
                responses.append(
                    {
                        "code": code,
                        "description": response.get("description", ""),
                        "media": media,
                        "type": _type_of(content.get(media, {}).get("schema")),
                    }
                )
            by_tag.setdefault((op.get("tags") or ["Other"])[0], []).append(
                {
                    "anchor": re.sub(r"[^a-z0-9]+", "-", f"{method}{path}".lower()),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "public": op.get("security") == [],
                    "params": [
                        {
                            "name": p.get("name"),
                            "in": p.get("in"),
                            "required": p.get("required", False),
                            "type": _type_of(p.get("schema")),
                            "description": p.get("description", ""),
                        }
                        for p in params
                    ],
                    "body": [
                        {"media": m, "type": _type_of(c.get("schema"))} for m, c in body.items()
                    ],
                    "responses": responses,
                }
            )
    return by_tag


def _schemas(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        out.append(
            {
                "name": name,
                "description": schema.get("description", ""),
                "properties": [
                    {
                        "name": prop,
                        "type": _type_of(value),
                        "required": prop in required,
                        "read_only": value.get("readOnly", False),
                        "description": value.get("description", ""),
                    }
                    for prop, value in schema.get("properties", {}).items()
                ],
            }
        )
    return out


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ info.title }} {{ info.version }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem}
code,.path{font-family:ui-monospace,monospace}h2{border-bottom:2px solid #ddd;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.GET{color:#0b6e2e}.POST{color:#1f4fa3}
.PUT{color:#8a5a00}.DELETE{color:#a31f1f}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;border-bottom:1px solid #eee;padding:.25rem .5rem;vertical-align:top}
.note{color:#555}pre{white-space:pre-wrap}
</style></head><body>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<p><a href="{{ json_url }}">OpenAPI document (JSON)</a></p>
<pre>{{ info.description }}</pre>
{% macro typ(t) -%}
{% if t.link %}<a href="#schema-{{ t.link }}">{{ t.text }}</a>{% else %}{{ t.text }}{% endif %}
{%- endmacro %}
<nav><h2>Contents</h2><ul>
{% for tag, ops in tags.items() %}<li>{{ tag }}<ul>
{% for op in ops %}<li><a href="#{{ op.anchor }}">
<span class="m {{ op.method }}">{{ op.method }}</span>
<span class="path">{{ op.path }}</span></a> {{ op.summary }}</li>{% endfor %}
</ul></li>{% endfor %}
<li><a href="#schemas">Schemas</a></li></ul></nav>
{% for tag, ops in tags.items() %}<h2>{{ tag }}</h2>
{% for op in ops %}<section class="op" id="{{ op.anchor }}">
<h3><span class="m {{ op.method }}">{{ op.method }}</span>
<span class="path">{{ op.path }}</span></h3>
<p><strong>{{ op.summary }}</strong>
{% if op.public %} <em>(no authentication)</em>{% endif %}</p>
{% if op.description %}<pre class="note">{{ op.description }}</pre>{% endif %}
{% if op.params %}<table>
<tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>
{% for p in op.params %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td>
<td>{{ typ(p.type) }}</td><td>{{ "yes" if p.required else "" }}</td>
<td>{{ p.description }}</td></tr>{% endfor %}
</table>{% endif %}
{% for b in op.body %}<p>Body (<code>{{ b.media }}</code>): {{ typ(b.type) }}</p>{% endfor %}
<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>
{% for r in op.responses %}<tr><td>{{ r.code }}</td><td>{{ r.description }}</td>
<td>{% if r.media %}<code>{{ r.media }}</code> {{ typ(r.type) }}{% endif %}</td></tr>
{% endfor %}</table>
</section>{% endfor %}{% endfor %}
<h2 id="schemas">Schemas</h2>
{% for s in schemas %}<section class="op" id="schema-{{ s.name }}"><h3>{{ s.name }}</h3>
{% if s.description %}<p>{{ s.description }}</p>{% endif %}
<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>
{% for p in s.properties %}<tr><td><code>{{ p.name }}</code></td><td>{{ typ(p.type) }}</td>
<td>{{ "yes" if p.required else "" }}</td><td>{{ p.description }}</td></tr>{% endfor %}</table>
</section>{% endfor %}
</body></html>"""


@public
def reference_page() -> str:
    spec = spec_dict()
    return render_template_string(
        PAGE,
        info=spec["info"],
        tags=_operations(spec),
        schemas=_schemas(spec),
        json_url=request.path.rsplit("/", 1)[0] + "/openapi.json",
    )


@public
def unknown_route(path: str = "") -> Response:
    """Anything under /api/v1 that matches no operation: 405 if another method would, else 404."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in HTTP_METHODS:
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != request.endpoint:
            allowed.add(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed | {"OPTIONS"}))
    raise NotFound("No API operation at this address; see /api/v1/docs.")
