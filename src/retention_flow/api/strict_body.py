"""JSON request bodies parsed by the one strict rule (``core.strict_json``).

FastAPI reads bodies with ``json.loads``, which accepts ``NaN``, ``Infinity``, duplicate
keys and lone surrogates, and answers malformed text with a field named after a byte
offset. Every API route uses ``StrictJsonRoute``: the body is parsed strictly before
FastAPI sees it (FastAPI then reuses the parsed value), so a non-interoperable value
answers 422 ``validation_failed`` naming its path, and malformed text names the line and
column.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response, params
from fastapi.routing import APIRoute

from ..core import strict_json


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a content type as JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None or isinstance(self.body_field.field_info, params.Form):
            return handler  # no body, or a form / multipart upload (File is a Form)

        async def strict_handler(request: Request) -> Response:
            if _is_json(request.headers.get("content-type")):
                body = await request.body()
                if body:
                    # Starlette's Request.json() answers this cached value
                    request._json = strict_json.loads(body)
            return await handler(request)

        return strict_handler


def api_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes parse JSON bodies strictly."""
    return APIRouter(route_class=StrictJsonRoute, **kwargs)
