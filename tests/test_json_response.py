"""JSON answers are rendered by orjson (web/json_response.py), meaning what the standard
library's rendering meant, and falling back to it for what orjson refuses."""

from __future__ import annotations

import json

import pytest

from dailypapers.web.json_response import JSONResponse, render_json


@pytest.mark.parametrize("content", [
    {"title": "Widget \u2028 study ü 数学 <script>", "upvotes": 7, "score": 0.125,
     "authors": [{"name": "A. B.", "hidden": False}], "none": None},
    {"huge": 2 ** 70, "ok": 1},  # beyond 64 bits: the standard library renders it exactly
    {1: "a key that is not text"},
])
def test_the_same_bytes_as_the_standard_library_rendered(content):
    assert render_json(content) == json.dumps(content, ensure_ascii=False,
                                              separators=(",", ":")).encode()


def test_a_response_carries_the_rendered_bytes():
    answer = JSONResponse({"a": [1, 2]}, status_code=201)
    assert answer.body == b'{"a":[1,2]}' and answer.status_code == 201
    assert answer.headers["content-type"] == "application/json"
