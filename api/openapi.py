"""/openapi.json as a contract a client generator can use (docs/api.md#generating-a-client).

On top of quart-schema's document: every operation gets the shared error body for the statuses
its kind of route can answer (from its decorators: body, query string, path ids, token, role),
a 204 has no content, response headers sit where OpenAPI wants them, public routes say so in
`security`, operation ids are unique (module + function), and explicit HEAD routes (Tus) appear.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from quart_schema import OpenAPIProvider

from api.auth import WRITE_METHODS
from api.errors import CODES
from api.outputs import ErrorOut, NoContent

# api/outputs/platform.py's markers of bodies that are not JSON
RAW = {"Html": "text/html", "PlainText": "text/plain", "Binary": "application/octet-stream"}
AUTH_ATTRIBUTE = "_daira_auth"  # set by api/auth.py: "required", "optional" or "role"


# statuses without a generic code in api/errors.CODES: their one code
OWN_CODES = {410: "upload_gone or cursor_expired", 412: "tus_version_unsupported", 460: "checksum_mismatch"}


def _error(status: int) -> dict[str, Any]:
    generic = CODES.get(status)
    described = f"`{generic}` or a more specific code" if generic else OWN_CODES[status]
    return {
        "description": f"ErrorOut: {described}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


class ContractProvider(OpenAPIProvider):
    def generate_methods(self, rule):
        yield from super().generate_methods(rule)
        if "HEAD" in rule.methods and "GET" not in rule.methods:
            yield "HEAD"  # declared on purpose (Tus), not werkzeug's automatic HEAD of a GET

    def build_querystring_parameters(self, model):
        return _mark_required(model, *super().build_querystring_parameters(model))

    def build_headers_parameters(self, model):
        return _mark_required(model, *super().build_headers_parameters(model))

    def operation_id(self, method: str, path: str, func) -> str | None:
        return f"{method.lower()}_{func.__module__.rsplit('.', 1)[-1]}_{func.__name__}"

    def build_paths(self, rule):
        paths, components = super().build_paths(rule)
        auth = getattr(self._app.view_functions[rule.endpoint], AUTH_ATTRIBUTE, None)
        for operations in paths.values():
            for method, op in operations.items():
                operations[method] = self._complete(op, auth, components, method.upper())
        components.update(ERROR_COMPONENTS)
        return paths, components

    def _complete(
        self, op: dict[str, Any], auth: str | None, components: dict[str, Any], method: str
    ) -> dict[str, Any]:
        op = {**op, "responses": {str(s): self._response(int(s), r, components) for s, r in op["responses"].items()}}
        params = op.get("parameters", [])
        if op.get("requestBody"):
            op["requestBody"] = self._request_body(op["requestBody"], components)
        statuses = {503}
        if op.get("requestBody") or any(p["in"] == "query" for p in params):
            statuses |= {400, 422}
        if any(p["in"] == "path" for p in params):
            statuses.add(400)  # a malformed id: `invalid_id`
        if auth is not None:
            statuses |= {401, 429}
        if auth == "role" or (auth == "required" and method in WRITE_METHODS):
            statuses.add(403)  # forbidden_role; a write by a suspended account (account_suspended)
        for status in sorted(statuses):
            op["responses"].setdefault(str(status), _error(status))
        if auth is None:
            op["security"] = []
        elif auth == "optional":
            op["security"] = [{}, {"bearer": []}]
        return op

    @staticmethod
    def _request_body(body: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
        """A validated body is required, and its model is one named component (RegisterIn, PostIn)."""
        content = {}
        for media, item in body["content"].items():
            schema = item["schema"]
            if schema.get("title") and "$ref" not in schema:
                components[_name(schema["title"])] = schema
                schema = {"$ref": f"#/components/schemas/{_name(schema['title'])}"}
            content[media] = {**item, "schema": schema}
        return {**body, "content": content, "required": True}

    @staticmethod
    def _response(status: int, response: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
        content = dict(response.get("content", {}))
        out: dict[str, Any] = {"description": response.get("description") or "OK"}
        headers = content.pop("headers", None)  # quart-schema nests them in content
        if headers:
            out["headers"] = headers
        schema = content.get("application/json", {}).get("schema", {})
        title = schema.get("title")
        if title in (NoContent.__name__, "Redirect"):
            return out
        if title in RAW:
            out["content"] = {RAW[title]: {"schema": {"type": "string", "format": "binary"}}}
            return out
        if title == ErrorOut.__name__:
            return {**_error(status), **({"headers": headers} if headers else {})}
        if title and "$ref" not in schema:  # a named model: one component, not a copy per operation
            name = _name(title)
            components[name] = schema
            content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        out["content"] = content
        return out


def _mark_required(model, parameters: list[dict[str, Any]], components: dict[str, Any]):
    """quart-schema looks for `required` per property, where pydantic never puts it."""
    required = set(TypeAdapter(model).json_schema().get("required", []))
    for param in parameters:
        if param["name"].replace("-", "_") in required:
            param["required"] = True
    return parameters, components


def _name(title: str) -> str:
    return re.sub(r"\W", "_", title).strip("_")


def _error_components() -> dict[str, Any]:
    schema = TypeAdapter(ErrorOut).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    return {"ErrorOut": schema, **schema.pop("$defs")}


ERROR_COMPONENTS = _error_components()
