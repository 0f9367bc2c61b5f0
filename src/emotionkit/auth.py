"""API key for the HTTP service: ``Authorization: Bearer KEY`` on every API route.

As text-embeddings-inference's ``--api-key``: when a key is set, every request but
``/health``, the web page (``/``, its ``/static/`` assets) and the API docs (``/docs``,
``/openapi.json``) must carry the header, or gets a 401 with the service's error body and
``WWW-Authenticate: Bearer``. The key is compared in constant time and never echoed, logged or
shown in ``/info`` or ``/metrics``.

>>> settings = resolve_api_key(ServeSettings())          # doctest: +SKIP
>>> app.add_middleware(BearerAuth, api_key=settings.api_key)   # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emotionkit.serve import ServeSettings

ENV_VAR = "EMOTIONKIT_API_KEY"
OPEN_PATHS = frozenset({"/health", "/", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
OPEN_PREFIXES = ("/static/",)
REALM = 'Bearer realm="emotionkit"'


def check_api_key(key: str | None) -> None:
    """Refuse a key that cannot travel in a header; the message never quotes the key itself."""
    if key is None:
        return
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a string, got {type(key).__name__}")
    if not key or any(not ("!" <= c <= "~") for c in key):
        raise ValueError(f"api_key must be 1 or more visible ASCII characters without spaces; the one given has "
                         f"{len(key)} characters (not shown)")


def resolve_api_key(settings: ServeSettings) -> ServeSettings:
    """``settings`` with the key from ``$EMOTIONKIT_API_KEY`` when ``settings.api_key`` is unset
    (``--api-key`` wins over the environment; an empty variable means no key)."""
    if settings.api_key is None and os.environ.get(ENV_VAR):
        return replace(settings, api_key=os.environ[ENV_VAR])
    return settings


def is_open(path: str) -> bool:
    """Whether ``path`` answers without a key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class BearerAuth:
    """ASGI middleware: a 401 unless the request carries ``Authorization: Bearer <api_key>``."""

    def __init__(self, app, api_key: str):
        check_api_key(api_key)
        self.app = app
        self._key = api_key.encode("ascii")

    def __repr__(self) -> str:  # never the key
        return "BearerAuth(api_key=***)"

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or is_open(scope.get("path", "")):
            return await self.app(scope, receive, send)  # lifespan events, /health, the page
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
        scheme, _, token = (header or b"").partition(b" ")
        if scope["type"] == "websocket":  # none today; a future one is locked too (closed before accept: a 403)
            if header is None or scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
                return await send({"type": "websocket.close", "code": 1008})
            return await self.app(scope, receive, send)
        if header is None or scheme.lower() != b"bearer":
            return await _reject(send, "this service needs an API key: send the header 'Authorization: Bearer <key>'", REALM)
        if not hmac.compare_digest(token.strip(), self._key):
            return await _reject(send, "the API key sent in 'Authorization: Bearer ...' is not this service's key",
                                 REALM + ', error="invalid_token"')
        return await self.app(scope, receive, send)


async def _reject(send, message: str, challenge: str) -> None:
    body = json.dumps({"error": message, "error_type": "Unauthorized"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"www-authenticate", challenge.encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def document_bearer(app) -> None:
    """Declare the bearer scheme in the OpenAPI schema, so /docs offers 'Authorize' and sends the header."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        for path, operations in schema.get("paths", {}).items():
            if is_open(path):
                for operation in operations.values():
                    operation["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
