"""JSON Schemas of the JSON API's answers, for the OpenAPI description.

The routes build their JSON by hand (web/hf_shapes.py keeps Hugging Face's key names and its
habit of leaving a key out rather than sending null); these schemas state what a client may
rely on: the keys always present and the type of every key that may appear. Other keys may
come (``additionalProperties`` stays open), as huggingface.co adds keys too.
tests/test_schemathesis.py checks every generated answer against them.
"""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_STRINGS = {"type": "array", "items": _STRING}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_USER = {
    "type": "object",
    "description": "A Hugging Face account.",
    "properties": {"_id": _STRING, "avatarUrl": _STRING, "isPro": {"type": "boolean"},
                   "fullname": _STRING, "user": _STRING, "name": _STRING, "type": _STRING},
}

_PAPER_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "arXiv identifier without version",
           "examples": ["2603.00042"]},
    "authors": {"type": "array", "items": _ref("Author")},
    "publishedAt": _nullable({"type": "string", "description": "ISO 8601 timestamp"}),
    "submittedOnDailyAt": _STRING,
    "submittedOnDailyBy": _USER,
    "title": _STRING,
    "summary": {"type": "string", "description": "The abstract."},
    "upvotes": {"type": "integer", "minimum": 0},
    "discussionId": _STRING,
    "githubRepo": _STRING,
    "githubStars": _INTEGER,
    "projectPage": _STRING,
    "ai_summary": _STRING,
    "ai_keywords": _STRINGS,
    "organization": _ref("Organization"),
    "mediaUrls": _STRINGS,
    "withdrawnAt": _STRING,
}
_PAPER_REQUIRED = ["id", "authors", "publishedAt", "title", "summary", "upvotes"]

COMPONENTS: dict[str, dict[str, Any]] = {
    "Author": {
        "type": "object", "required": ["name", "hidden"],
        "properties": {"_id": _STRING, "name": _STRING, "user": _USER, "status": _STRING,
                       "statusLastChangedAt": _STRING, "hidden": {"type": "boolean"}},
    },
    "Organization": {
        "type": "object", "required": ["name"],
        "properties": {"_id": _STRING, "name": _STRING, "fullname": _STRING, "avatar": _STRING},
    },
    "Paper": {
        "type": "object", "description": "A paper, with Hugging Face's key names.",
        "required": _PAPER_REQUIRED, "properties": _PAPER_PROPERTIES,
    },
    "DailyItem": {
        "type": "object", "description": "A paper as featured on Daily Papers (or found by search).",
        "required": ["paper", "publishedAt", "title", "summary", "thumbnail", "numComments",
                     "isAuthorParticipating"],
        "properties": {
            "paper": _ref("Paper"),
            "publishedAt": _nullable(_STRING),
            "title": _STRING,
            "summary": _STRING,
            "thumbnail": _nullable(_STRING),
            "numComments": {"type": "integer", "minimum": 0},
            "mediaUrls": _STRINGS,
            "submittedBy": _USER,
            "organization": _ref("Organization"),
            "isAuthorParticipating": {"type": "boolean"},
        },
    },
    "PaperInfo": {
        "type": "object", "description": "One paper, as of its most recent feature day.",
        "required": [*_PAPER_REQUIRED, "numComments"],
        "properties": {
            **_PAPER_PROPERTIES,
            "numComments": {"type": "integer", "minimum": 0},
            "linkedModels": {"type": "array"}, "numTotalModels": _INTEGER,
            "linkedDatasets": {"type": "array"}, "numTotalDatasets": _INTEGER,
            "linkedSpaces": {"type": "array"},
        },
    },
    "SearchPage": {
        "type": "object", "required": ["data", "count", "next", "mode", "warnings"],
        "properties": {
            "data": {"type": "array", "items": {
                "type": "object", "required": ["paper", "score", "ranks", "highlights"],
                "properties": {
                    "paper": _ref("Paper"),
                    "score": {"type": "number"},
                    "ranks": {"type": "object", "required": ["keyword", "dense"], "properties": {
                        "keyword": _nullable({"type": "integer", "minimum": 1}),
                        "dense": _nullable({"type": "integer", "minimum": 1})}},
                    "highlights": {
                        "type": "object", "required": ["title", "abstract", "authors"],
                        "description": "HTML-escaped text, the matches in <mark>.",
                        "properties": {"title": _STRING, "abstract": _STRING,
                                       "authors": _STRINGS}},
                }}},
            "count": {"type": "integer", "minimum": 0, "description": "Matches in all."},
            "next": _nullable({"type": "string", "format": "uri",
                               "description": "The next page, on DAILYPAPERS_BASE_URL."}),
            "mode": {"type": "string", "enum": ["hybrid", "keyword", "dense"]},
            "warnings": _STRINGS,
        },
    },
}


def ok_response(description: str, component: str, *, array: bool = False) -> dict[str, Any]:
    """The 200 of a route decorator's ``responses``: ``component`` (a list of them if ``array``)."""
    schema: dict[str, Any] = _ref(component)
    if array:
        schema = {"type": "array", "items": schema}
    return {"description": description, "content": {"application/json": {"schema": schema}}}
