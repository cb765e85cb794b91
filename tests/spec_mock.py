"""A mock control plane generated from an OpenAPI 3.0 document, as Prism would serve it, offline.

::

    with SpecMock.from_file(SPEC) as mock:
        client = Portkey(api_key="any", base_url=mock.base_url)
        ...
        assert mock.problems() == []

Nothing here knows Portkey: every route, parameter, body and answer comes from the document.

- **Routes.** Each documented path and method, below the path of the document's first server
  (``/v1``); path templates (``/providers/{slug}``) match one segment per parameter. Anything
  else is 404, a documented path with another method 405.
- **Security.** An ``apiKey`` scheme in a header must be present (any value); otherwise 401 with
  the operation's documented 401 example.
- **Requests are validated** against the document: every query parameter must be declared, and
  required ones present; values are parsed by their schema type and checked (``enum``,
  ``minimum``...); the body must be JSON when the operation has one, and is validated with
  ``jsonschema`` against its schema (``$ref`` inlined, OpenAPI's ``nullable`` turned into JSON
  Schema, ``format`` ``uuid`` and ``date-time`` checked). A request that breaks the document gets
  a 400 whose message lists every problem, and the problems are kept in :attr:`exchanges`.
- **Answers** are the documented ``200``: the response's ``example`` when it has one, otherwise a
  body built from its schema by :func:`example`, which takes each schema's own ``example``,
  else its first ``enum`` value or ``oneOf`` branch, else a plain value of its type and format.
  Every documented property is present, so a client's model meets all of them.

OpenAPI 3.0 ignores keywords next to a ``$ref``; one ``nullable: true`` beside a ``$ref``
(``PUT /providers/{slug}`` ``usage_limits``) is honoured here, as the document's evident intent is
that ``null`` clears the limits.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
import jsonschema
import yaml
from aiohttp import web

__all__ = ["Exchange", "SpecMock", "example", "to_json_schema"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_EXAMPLE_UUID = "00000000-0000-4000-8000-000000000000"
_EXAMPLE_DATE_TIME = "2026-06-12T00:00:00Z"

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # RFC 3339 needs a time and an offset; fromisoformat reads "Z" from Python 3.11.
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r".+T.+(Z|[+-]\d\d:\d\d)", value, re.IGNORECASE):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


def resolve(node: Any, document: Mapping[str, Any]) -> Any:
    """``node`` with a top-level ``$ref`` followed (within the document)."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        if not pointer.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {pointer!r}")
        target: Any = document
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def to_json_schema(node: Any, document: Mapping[str, Any]) -> Any:
    """An OpenAPI 3.0 schema object as plain JSON Schema: refs inlined, ``nullable`` expanded."""
    if isinstance(node, list):
        return [to_json_schema(item, document) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        inner = to_json_schema(copy.deepcopy(resolve(node, document)), document)
        # Honoured beside a $ref too (see the module docstring).
        return {"anyOf": [inner, {"type": "null"}]} if node.get("nullable") else inner
    out = {
        key: to_json_schema(value, document)
        for key, value in node.items()
        if key not in ("nullable", "example", "examples", "default", "description", "title")
        and not key.startswith("x-")
    }
    if isinstance(node.get("properties"), dict):
        # Property names are data, not keywords: a property called "description" or "title"
        # must not be dropped with the annotations of the same name.
        out["properties"] = {
            name: to_json_schema(value, document) for name, value in node["properties"].items()
        }
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def example(node: Any, document: Mapping[str, Any]) -> Any:
    """A value the schema ``node`` accepts, built as described in the module docstring."""
    node = resolve(node, document)
    if not isinstance(node, dict):
        return None
    if "example" in node:
        return copy.deepcopy(node["example"])
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            value = example(part, document)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if key in node:
            return example(node[key][0], document)
    if node.get("enum"):
        return copy.deepcopy(node["enum"][0])
    kind = node.get("type") or ("object" if "properties" in node else None)
    if kind == "object":
        return {name: example(prop, document) for name, prop in node.get("properties", {}).items()}
    if kind == "array":
        return [example(node.get("items", {}), document)]
    if kind == "string":
        fmt = str(node.get("format", "")).lower()
        return {"date-time": _EXAMPLE_DATE_TIME, "uuid": _EXAMPLE_UUID}.get(fmt, "string")
    if kind == "integer":
        return int(node.get("minimum", 1))
    if kind == "number":
        return node.get("minimum", 1)
    if kind == "boolean":
        return True
    return {}


@attrs.define
class Operation:
    """One documented method of one path."""

    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]
    parameters: dict[tuple[str, str], dict[str, Any]]


@attrs.frozen
class Exchange:
    """One request the mock received, what was wrong with it, and how it answered."""

    method: str
    path: str
    operation: str | None
    query: dict[str, list[str]]
    body: Any
    status: int
    problems: tuple[str, ...]


class SpecMock:
    """The mock server; see the module docstring. Runs on its own thread and event loop."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        servers = document.get("servers") or [{"url": "/"}]
        self.base_path = urlsplit(servers[0]["url"]).path.rstrip("/")
        self.operations = list(self._operations())
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @classmethod
    def from_file(cls, path: Path) -> SpecMock:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    # -- what tests read -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("SpecMock is not started")
        return f"http://127.0.0.1:{self._port}{self.base_path}"

    @property
    def documented(self) -> set[str]:
        """Every documented operation, as ``"GET /providers/{slug}"``."""
        return {f"{op.method} {op.template}" for op in self.operations}

    def problems(self) -> list[str]:
        """Every problem found in any request so far."""
        with self._lock:
            return [f"{e.method} {e.path}: {p}" for e in self.exchanges for p in e.problems]

    def sent(self) -> Any:
        """The last request's JSON body, as the mock received it."""
        with self._lock:
            return self.exchanges[-1].body

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """A request of our own, not the SDK's: the status and JSON answer, errors included.

        With an API key and a JSON content type unless ``headers`` say otherwise.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "x-portkey-api-key": "pk",
                "content-type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def answered(self) -> set[str]:
        """The documented operations that received a valid request and answered 200."""
        with self._lock:
            return {e.operation for e in self.exchanges if e.operation and e.status == 200}

    def response_example(self, method: str, template: str, status: str = "200") -> Any:
        """The body the mock answers ``method template`` with."""
        operation = next(
            op for op in self.operations if (op.method, op.template) == (method, template)
        )
        return self._answer(operation, status)

    # -- the document --------------------------------------------------------------------------

    def _operations(self) -> Iterator[Operation]:
        for template, path_item in self.document.get("paths", {}).items():
            item = resolve(path_item, self.document)
            shared = item.get("parameters", [])
            pattern = re.compile(
                re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            )
            for method in _METHODS:
                if method not in item:
                    continue
                spec = item[method]
                parameters = {}
                for reference in [*shared, *spec.get("parameters", [])]:
                    parameter = resolve(reference, self.document)
                    parameters[parameter["in"], parameter["name"]] = parameter
                yield Operation(method.upper(), template, pattern, spec, parameters)

    def _security_headers(self, operation: Operation) -> list[str]:
        requirements = operation.spec.get("security", self.document.get("security", []))
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        headers = []
        for requirement in requirements:
            for name in requirement:
                scheme = schemes.get(name, {})
                if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                    headers.append(scheme["name"])
        return headers

    def _answer(self, operation: Operation, status: str) -> Any:
        response = resolve(operation.spec.get("responses", {}).get(status, {}), self.document)
        media = response.get("content", {}).get("application/json", {})
        if "example" in media:
            return copy.deepcopy(media["example"])
        if media.get("examples"):
            first = next(iter(media["examples"].values()))
            return copy.deepcopy(resolve(first, self.document).get("value"))
        return example(media.get("schema", {}), self.document)

    def _check_value(self, where: str, value: Any, schema: Mapping[str, Any]) -> list[str]:
        validator = jsonschema.Draft4Validator(
            to_json_schema(schema, self.document), format_checker=FORMATS
        )
        return [
            f"{where}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
            for error in sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        ]

    def _check_query(self, operation: Operation, query: Mapping[str, list[str]]) -> list[str]:
        problems = []
        declared = {name for (where, name) in operation.parameters if where == "query"}
        problems += [f"query {name!r} is not documented" for name in query if name not in declared]
        for (where, name), parameter in operation.parameters.items():
            if where != "query":
                continue
            values = query.get(name, [])
            if not values:
                if parameter.get("required"):
                    problems.append(f"query {name!r} is required")
                continue
            if len(values) > 1:
                problems.append(f"query {name!r} is given {len(values)} times")
            schema = resolve(parameter.get("schema", {}), self.document)
            problems += self._check_value(
                f"query {name!r}", _typed(values[0], schema.get("type")), schema
            )
        return problems

    def _check_body(self, operation: Operation, raw: bytes, content_type: str) -> list[str]:
        request_body = resolve(operation.spec.get("requestBody"), self.document)
        if request_body is None:
            return ["this operation takes no body"] if raw else []
        if not raw:
            return ["a body is required"] if request_body.get("required") else []
        media = request_body.get("content", {}).get(content_type)
        if media is None:
            return [f"content type {content_type!r} is not documented"]
        try:
            body = json.loads(raw)
        except ValueError:
            return ["the body is not JSON"]
        return self._check_value("body", body, media.get("schema", {}))

    # -- the server ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw_path = request.raw_path.split("?", 1)[0]
        query: dict[str, list[str]] = {}
        for name, value in request.query.items():
            query.setdefault(name, []).append(value)
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        status, answer, name, problems = self._route(request, raw_path, query, raw)
        with self._lock:
            self.exchanges.append(
                Exchange(request.method, raw_path, name, query, body, status, tuple(problems))
            )
        return web.json_response(answer, status=status)

    def _route(
        self, request: web.Request, raw_path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any, str | None, list[str]]:
        if not raw_path.startswith(self.base_path + "/"):
            return 404, _message("not below the base path"), None, ["not below the base path"]
        below = raw_path[len(self.base_path) :]
        matches = [(op, op.pattern.match(below)) for op in self.operations]
        matches = [(op, m) for op, m in matches if m]
        if not matches:
            return 404, _message("no such path"), None, ["no such path in the document"]
        found = [(op, m) for op, m in matches if op.method == request.method]
        if not found:
            return 405, _message("method not documented"), None, ["method not documented"]
        operation, match = found[0]
        name = f"{operation.method} {operation.template}"
        for header in self._security_headers(operation):
            if not request.headers.get(header):
                documented = "401" in operation.spec.get("responses", {})
                answer = self._answer(operation, "401") if documented else _message("401")
                return 401, answer, name, []
        problems = []
        for parameter, value in match.groupdict().items():
            spec = operation.parameters.get(("path", parameter), {})
            problems += self._check_value(
                f"path {parameter!r}", unquote(value), spec.get("schema", {})
            )
        problems += self._check_query(operation, query)
        content_type = request.content_type if raw else ""
        problems += self._check_body(operation, raw, content_type)
        if problems:
            return 400, _message("; ".join(problems)), name, problems
        return 200, self._answer(operation, "200"), name, []

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._runner = runner

    def __enter__(self) -> SpecMock:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            started.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="SpecMock", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._port = None


def _typed(text: str, kind: object) -> Any:
    """A query string value as its schema type, when it reads as one (else the string)."""
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "number" and _NUMBER.fullmatch(text):
        return float(text)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _message(text: str) -> dict[str, Any]:
    return {"success": False, "data": {"message": text}}
