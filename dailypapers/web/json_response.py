"""JSON answers rendered by orjson: the standard library's encoder was a third of an API answer's
CPU (a day of papers for Hugging Face's clients, a search), and cached answers are rendered
again after every vote on a paper they show. The bytes mean the same: compact, UTF-8 (as
Starlette's ``ensure_ascii=False``). What orjson refuses (an integer beyond 64 bits, which
upstream data may carry; a key that is not text) is rendered by the standard library, exactly as
before; a NaN, which that refused, becomes null."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return render_json(content)


def render_json(content: Any) -> bytes:
    try:
        return orjson.dumps(content)
    except TypeError:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")
