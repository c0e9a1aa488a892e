"""An API parameter given twice is a 400 naming it, never "whichever value the parser keeps"."""

from __future__ import annotations


def test_a_repeated_api_parameter_is_refused(client) -> None:
    answer = client.get("/api/daily_papers?limit=5&limit=500")
    assert answer.status_code == 400 and answer.json() == {"error": "limit: given more than once"}
    answer = client.get("/api/papers/search?q=a&limit=1&q=b")
    assert answer.status_code == 400 and answer.json()["error"].startswith("q:")
    assert client.get("/api/daily_papers?limit=5&p=0").status_code == 200
    assert client.get("/papers?sort=newest&sort=trending").status_code == 200  # pages: as before
