"""Validation of REST traffic against Discord's own OpenAPI 3.1 description.

Reusable on its own::

    validator = OpenAPIValidator.load()          # tests/fake_discord/spec/openapi.json
    problems = validator.validate_request("POST", "/channels/{channel_id}/messages", body)
    problems = validator.validate_response("POST", "/channels/{channel_id}/messages", 200, data)

or through ``FakeDiscord(validate=True)``, which records every problem in ``fake.errors``.
``jsonschema`` is optional at import time (the fake also runs in the bot's bare venv); asking for
validation without it raises a clear error.

``strict_requests=True`` additionally rejects request properties the spec does not declare
(``unevaluatedProperties: false`` on every object schema a request body can reach), so a typo in
a field name the bot sends is caught instead of silently ignored by Discord.
"""

from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

try:  # optional: not in the bot's runtime venv
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:  # pragma: no cover - exercised only in a venv without jsonschema
    jsonschema = None

SPEC_URI = "urn:discord-openapi"
SPEC_ENV = "GUILDBOT_DISCORD_OPENAPI"
SPEC_DIR = Path(__file__).resolve().parent / "spec"


class SpecUnavailable(RuntimeError):
    pass


def default_spec_path() -> Path:
    """The copy carried in the repository, ``tests/fake_discord/spec/openapi.json``
    (``$GUILDBOT_DISCORD_OPENAPI`` overrides it). Nothing outside the repository is read."""
    override = os.environ.get(SPEC_ENV)
    if override:
        return Path(override)
    return SPEC_DIR / "openapi.json"


def _rewrite_refs(node: Any) -> Any:
    """Make every local ``$ref`` absolute so any sub-schema can be validated standalone."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = SPEC_URI + value
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _close_objects(node: Any) -> None:
    """Add ``unevaluatedProperties: false`` to object schemas that declare properties."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node.setdefault("unevaluatedProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def tolerate_known_deviations(spec_path: str, body: Any) -> Any:
    """Undo the few differences between what discord.py 2.7 sends (and Discord accepts) and the
    spec, so they are not reported. Each one is listed here, on purpose, with its reason:

    - ``attachments[].id``: discord.py sends the upload index as an integer (``{"id": 0}``); the
      spec types it as a snowflake string.
    - ``nsfw`` on application commands: documented by Discord, sent by discord.py, missing from
      the spec's ``ApplicationCommandUpdateRequest`` (only matters with ``strict_requests``).
    - ``embeds[].flags``: discord.py's ``Embed.to_dict`` includes it, the spec's ``RichEmbed``
      does not declare it (only matters with ``strict_requests``).
    - ``tts: false`` on message edits and UPDATE_MESSAGE callbacks (``edit_message``): discord.py
      always sends it, the spec's update schemas have no ``tts`` (only matters with
      ``strict_requests``).
    """
    if isinstance(body, dict) and isinstance(body.get("attachments"), list):
        body = dict(body)
        body["attachments"] = [
            {**a, "id": str(a["id"])} if isinstance(a, dict) and isinstance(a.get("id"), int) else a
            for a in body["attachments"]
        ]
    if isinstance(body, dict) and isinstance(body.get("embeds"), list):
        body = dict(body)
        body["embeds"] = [
            {k: v for k, v in e.items() if k != "flags"} if isinstance(e, dict) else e
            for e in body["embeds"]
        ]
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        data = tolerate_known_deviations(spec_path, body["data"])
        if body.get("type") == 7:  # UPDATE_MESSAGE: an edit
            data = {k: v for k, v in data.items() if not (k == "tts" and not v)}
        body = {**body, "data": data}
    if spec_path.endswith(("/messages/@original", "/messages/{message_id}")) and isinstance(
        body, dict
    ):
        body = {k: v for k, v in body.items() if not (k == "tts" and not v)}
    if spec_path.endswith("/commands") and isinstance(body, list):
        body = [
            {k: v for k, v in c.items() if k != "nsfw"} if isinstance(c, dict) else c for c in body
        ]
    return body


def _status_keys(status: int) -> list[str]:
    return [str(status), f"{status // 100}XX", "default"]


class OpenAPIValidator:
    def __init__(self, spec: dict[str, Any], *, strict_requests: bool = False) -> None:
        if jsonschema is None:
            raise SpecUnavailable(
                "OpenAPI validation needs the 'jsonschema' package (requirements-dev.txt); "
                "it is not installed in this environment"
            )
        self.spec = _rewrite_refs(spec)
        self.strict_requests = strict_requests
        self._registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012)
        )
        if strict_requests:
            closed = copy.deepcopy(self.spec)
            _close_objects(closed["components"])
            self._request_registry = Registry().with_resource(
                SPEC_URI, Resource.from_contents(closed, default_specification=DRAFT202012)
            )
        else:
            self._request_registry = self._registry
        self._validators: dict[tuple[str, ...], Any] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> OpenAPIValidator:
        return cls(load_spec(str(path or default_spec_path())), **kwargs)

    # -- lookup ----------------------------------------------------------------------------------
    def operation(self, method: str, spec_path: str) -> dict[str, Any]:
        try:
            return self.spec["paths"][spec_path][method.lower()]
        except KeyError:
            raise KeyError(
                f"{method} {spec_path} is not in Discord's OpenAPI description"
            ) from None

    def _validator(self, key: tuple[str, ...], schema: dict[str, Any], registry: Any) -> Any:
        validator = self._validators.get(key)
        if validator is None:
            if registry is self._request_registry and self.strict_requests:
                schema = copy.deepcopy(schema)
                _close_objects(schema)
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            self._validators[key] = validator
        return validator

    @staticmethod
    def _format(errors: list[Any], what: str) -> list[str]:
        problems = []
        for error in sorted(errors, key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            detail = error.message
            if error.context:
                best = jsonschema.exceptions.best_match(error.context)
                detail += f" [best match: {'/'.join(map(str, best.absolute_path))}: {best.message}]"
            problems.append(f"{what} {where}: {detail[:500]}")
        return problems

    # -- validation ------------------------------------------------------------------------------
    def validate_request(
        self,
        method: str,
        spec_path: str,
        body: Any,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> list[str]:
        op = self.operation(method, spec_path)
        problems: list[str] = []
        if query:
            declared = {
                p["name"]
                for p in op.get("parameters", [])
                + self.spec["paths"][spec_path].get("parameters", [])
                if p.get("in") == "query"
            }
            problems += [
                f"query parameter {name!r} is not declared"
                for name in query
                if name not in declared
            ]
        request_body = op.get("requestBody")
        if body is None:
            if request_body is not None and request_body.get("required"):
                problems.append("request body is required but missing")
            return problems
        if request_body is None:
            return problems + ["request body sent to an operation that takes none"]
        content = request_body.get("content", {})
        # A multipart request is validated through its payload_json, i.e. the JSON schema.
        media = "application/json" if "application/json" in content else next(iter(content), None)
        if media is None:
            return problems
        schema = content[media].get("schema", {})
        validator = self._validator(("req", method, spec_path), schema, self._request_registry)
        body = tolerate_known_deviations(spec_path, body)
        return problems + self._format(list(validator.iter_errors(body)), "request body")

    def validate_response(self, method: str, spec_path: str, status: int, body: Any) -> list[str]:
        op = self.operation(method, spec_path)
        responses = op.get("responses", {})
        key = next((k for k in _status_keys(status) if k in responses), None)
        if key is None:
            return [f"status {status} is not a documented response ({', '.join(responses)})"]
        response = responses[key]
        if "$ref" in response:
            pointer = response["$ref"].split("#", 1)[1]
            node: Any = self.spec
            for part in pointer.strip("/").split("/"):
                node = node[part]
            response = node
        content = response.get("content")
        if not content:
            if body is not None:
                return [f"status {status} must have no body"]
            return []
        if body is None:
            return [f"status {status} must have a JSON body"]
        schema = content.get("application/json", {}).get("schema", {})
        validator = self._validator(("resp", method, spec_path, key), schema, self._registry)
        return self._format(list(validator.iter_errors(body)), f"response {status}")

    def validate_schema(self, name: str, instance: Any) -> list[str]:
        """Check a payload the spec has no route for (e.g. the ``message`` of a component
        INTERACTION_CREATE, a ``MessageResponse``) against ``#/components/schemas/NAME``."""
        schema = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
        validator = self._validator(("schema", name), schema, self._registry)
        return self._format(list(validator.iter_errors(instance)), name)


@lru_cache(maxsize=2)
def load_spec(path: str) -> dict[str, Any]:
    spec_file = Path(path)
    if not spec_file.is_file():
        raise SpecUnavailable(
            f"Discord's OpenAPI description was not found at {spec_file}. The repository carries "
            "it at tests/fake_discord/spec/openapi.json (see the README there); restore that "
            f"file or set ${SPEC_ENV} to another copy."
        )
    with spec_file.open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=2)
def shared_validator(path: str | None = None, strict_requests: bool = False) -> OpenAPIValidator:
    """One validator per process: building it costs a few hundred milliseconds."""
    return OpenAPIValidator.load(path, strict_requests=strict_requests)


@lru_cache(maxsize=2)
def available_locales(path: str | None = None) -> frozenset[str]:
    """The locales Discord accepts as keys of ``name_localizations`` and
    ``description_localizations`` (the spec's ``AvailableLocalesEnum``)."""
    spec = load_spec(str(path or default_spec_path()))
    enum = spec["components"]["schemas"]["AvailableLocalesEnum"]
    return frozenset(str(choice["const"]) for choice in enum["oneOf"])
