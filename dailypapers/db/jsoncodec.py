"""How JSON columns are decoded when read: by orjson, with exactly the standard library's result.
``json.loads`` was 2-4 % of a web process's CPU under load (every listing reads each paper's
``authors`` and other JSON columns); orjson parses the stored values ~3x faster, ~1.5x with the
checks below (bench/json_decode.py).

orjson and ``json.loads`` agree on every text except these, which go to ``json.loads``, as every
value did before:

- NaN, Infinity and -Infinity literals, lone surrogate escapes (``"\\ud800"``), numbers beyond a
  double's range (``1e400``: the standard library gives inf), a UTF-8 byte order mark in bytes:
  orjson raises ``JSONDecodeError``, and the standard library decides (as before: invalid text
  raises its own error).
- Integers beyond 64 bits (outside -2**63 … 2**64-1): orjson silently gives a float. Every such
  integer is written with at least 19 digits in a row (JSON has no leading zeros), so a text with
  a run of 19 digits anywhere (inside a string or a fraction too: that only costs the fast path)
  is decoded by the standard library.
- Nesting: orjson nests up to 1024 levels, while the standard library raises RecursionError
  when its depth plus the caller's stack passes the recursion limit (1000). A text with
  ``MAX_BRACKETS_FOR_ORJSON`` or more ``[`` and ``{`` could nest that deep, so it is decoded by
  the standard library (depth never exceeds the count of opening brackets).

Duplicate keys (the last value wins, at the first key's place), ``-0`` (the int 0) and floats
(both round correctly) come out the same from both. Anything but str or bytes (SQLite hands a
JSON column's bare number over as a number) goes to ``json.loads`` unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Below this many opening brackets the standard library would only have raised RecursionError
# if called with over 488 frames already on the stack: far beyond any request's (~100).
MAX_BRACKETS_FOR_ORJSON = 512
# A text this short has too few bytes for that many brackets: no need to count them.
_SHORT_ENOUGH = 2 * MAX_BRACKETS_FOR_ORJSON

# Every digit as "0" and "{" as "[": a run of 19 digits is then one substring search (a regular
# expression for it cost more than orjson's whole parse), the opening brackets one count.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789{", b"000000000[")
_BIG_INT_DIGITS = b"0" * 19

_orjson_loads = orjson.loads  # looked up once: attribute look-ups were a tenth of the call
_OrjsonDecodeError = orjson.JSONDecodeError
_json_loads = json.loads


def loads_json(data: bytes | str) -> Any:
    """``json.loads(data)``, faster: psycopg hands JSON/JSONB column values over as bytes,
    SQLAlchemy's SQLite JSON type as str."""
    if type(data) is bytes:
        text = data
    elif type(data) is str:
        text = data.encode("utf-8", "surrogatepass")  # lone surrogates: orjson refuses these bytes
    else:
        return _json_loads(data)
    shape = text.translate(_DIGITS_AS_ZERO)
    if _BIG_INT_DIGITS not in shape and (len(shape) < _SHORT_ENOUGH
                                         or shape.count(b"[") < MAX_BRACKETS_FOR_ORJSON):
        try:
            return _orjson_loads(text)
        except _OrjsonDecodeError:
            pass
    return _json_loads(data)
