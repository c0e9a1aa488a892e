"""JSON columns are decoded by orjson (db/jsoncodec.py) with exactly the standard library's
result: what orjson refuses or reads differently (integers beyond 64 bits, NaN and Infinity,
lone surrogates, nesting the standard library cannot follow) is decoded by ``json.loads``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from dailypapers.db import jsoncodec
from dailypapers.db.engine import write_transaction
from dailypapers.db.jsoncodec import loads_json
from dailypapers.db.schema import papers
from tests.helpers import hf_item, parse_hf_file, store, write_json

AUTHORS = [
    {"name": "Ada Lovelace", "hf_id": "66540321d200a2ecdf784ffe", "hidden": False,
     "status_changed_at": "2024-05-27T07:54:25.329Z",
     "user": {"username": "ada", "avatar_url": "/avatars/d3f68c.svg", "is_pro": False}},
    {"name": "数学 \u2028 ü \U0001f600", "rank": 999999999999999999, "share": 0.1, "none": None},
]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many values each decoder was given."""
    calls = {"orjson": 0, "json": 0}

    def counting(name, decode):  # type: ignore[no-untyped-def]
        def counted(data):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return decode(data)
        return counted

    monkeypatch.setattr(jsoncodec, "_orjson_loads", counting("orjson", jsoncodec._orjson_loads))
    monkeypatch.setattr(jsoncodec, "_json_loads", counting("json", jsoncodec._json_loads))
    return calls


def decoded_alike(text: str) -> object:
    """``loads_json`` of ``text`` as str and as bytes: the same as ``json.loads``, type and
    all (repr tells 1 from 1.0 and -0.0 from 0.0, and shows key order)."""
    expected = repr(json.loads(text))
    for data in (text, text.encode("utf-8", "surrogatepass")):
        assert repr(loads_json(data)) == expected
    return json.loads(text)


@pytest.mark.parametrize("text", [
    json.dumps([2 ** 70, -2 ** 70]),
    "[18446744073709551616]",  # 2**64: the first beyond orjson's unsigned 64 bits
    '{"n": -9223372036854775809}',  # -2**63 - 1: the first beyond its signed 64 bits
])
def test_an_integer_beyond_64_bits_stays_an_exact_int(text, paths):
    value = decoded_alike(text)
    assert all(type(n) is int for n in (value.values() if isinstance(value, dict) else value))
    assert paths["json"] == 2 and paths["orjson"] == 0


@pytest.mark.parametrize("text", [
    "[NaN, Infinity, -Infinity]",  # what json.dumps writes for those floats
    '"\\ud800 lone"', '["\\udc00"]',  # lone surrogate escapes
    "[1e400]",  # beyond a double: inf
])
def test_what_orjson_refuses_is_decoded_by_the_standard_library(text, paths):
    decoded_alike(text)
    assert paths["json"] == 2 and paths["orjson"] == 2  # tried, refused, decoded as before


def test_nan_and_infinity_come_back_as_floats():
    assert [repr(x) for x in loads_json(b"[NaN, Infinity, -Infinity]")] == ["nan", "inf", "-inf"]


def test_ordinary_values_take_orjson_alone(paths):
    for text in (json.dumps(AUTHORS), json.dumps(AUTHORS, ensure_ascii=False),
                 '{"a": 1, "b": 2, "a": 3}',  # duplicates: the last value, at the first key's place
                 "-0", "[-0.0, 1E2, 5e-324, 0.30000000000000004]", '"\\ud83d\\ude00"'):
        decoded_alike(text)
    assert paths["json"] == 0 and paths["orjson"] == 12
    assert list(loads_json('{"a": 1, "b": 2, "a": 3}').items()) == [("a", 3), ("b", 2)]


def nested(arrays: int, objects: int) -> str:
    return "[" * arrays + '{"a":' * objects + "1" + "}" * objects + "]" * arrays


def test_nesting_that_could_reach_the_recursion_limit_is_left_to_the_standard_library(paths):
    half = jsoncodec.MAX_BRACKETS_FOR_ORJSON // 2
    for below in (nested(half - 1, half), nested(half, half - 1)):  # arrays and objects count
        assert loads_json(below) == json.loads(below)
    assert paths == {"orjson": 2, "json": 0}
    bare = "[" * 2 * half + "]" * 2 * half  # as short as a text at the limit can be
    for at in (nested(half, half), nested(0, 2 * half), bare):
        assert loads_json(at) == json.loads(at)
    assert paths == {"orjson": 2, "json": 3}


def test_what_is_not_text_fails_as_before():
    with pytest.raises(TypeError):  # SQLite hands a bare number over as a number
        loads_json(5)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError) as refused:
        loads_json(b"[1,]")
    with pytest.raises(json.JSONDecodeError) as before:
        json.loads(b"[1,]")
    assert str(refused.value) == str(before.value)


# --- through the database ----------------------------------------------------------------------


@pytest.fixture
def paper_id(engine: sa.Engine, tmp_path: Path) -> str:
    parsed, refused = parse_hf_file(write_json(tmp_path / "daily.json", [hf_item("2401.00001")]))
    assert not refused
    store(engine, parsed)
    return "2401.00001"


def stored_then_read(engine: sa.Engine, paper_id: str, authors: object) -> object:
    with write_transaction(engine) as conn:
        conn.execute(papers.update().where(papers.c.id == paper_id).values(authors=authors))
    with engine.connect() as conn:
        return conn.execute(sa.select(papers.c.authors).where(papers.c.id == paper_id)).scalar_one()


def test_authors_read_back_equal_through_orjson(engine, paper_id, paths):
    assert stored_then_read(engine, paper_id, AUTHORS) == AUTHORS
    assert paths["orjson"] == 1 and paths["json"] == 0  # make_engine's decoder, on both databases


def test_big_integers_in_a_json_column_read_back_exactly(engine, paper_id, paths):
    authors = [{"name": "Big", "id": 2 ** 70, "neg": -2 ** 70}]
    read = stored_then_read(engine, paper_id, authors)
    assert read == authors and type(read[0]["id"]) is int and type(read[0]["neg"]) is int
    assert paths["json"] == 1


def test_lone_surrogates_and_duplicate_keys_read_back_as_before(engine, paper_id, paths):
    text = '[{"name": "\\ud800", "a": 1, "a": 2}]'  # PostgreSQL's json keeps the text as written
    with write_transaction(engine) as conn:
        conn.execute(sa.text("UPDATE papers SET authors = " + (
            "CAST(:text AS json)" if conn.dialect.name == "postgresql" else ":text")),
            {"text": text})
    with engine.connect() as conn:
        read = conn.execute(sa.select(papers.c.authors)).scalar_one()
    assert repr(read) == repr(json.loads(text)) == "[{'name': '\\ud800', 'a': 2}]"
    assert paths == {"orjson": 1, "json": 1}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL's json refuses NaN
def test_nan_and_infinity_in_a_json_column_read_back(engine, paper_id, paths):
    read = stored_then_read(engine, paper_id, [{"x": math.nan, "y": math.inf, "z": -math.inf}])
    assert repr(read) == "[{'x': nan, 'y': inf, 'z': -inf}]"
    assert paths["json"] == 1
