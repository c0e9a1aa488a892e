"""Your own vote shows: the vote button of a paper you upvoted is pressed (aria-pressed="true",
filled) on every card and on the paper's page, for you only, and pressing it (a plain form, no
JavaScript) takes the vote back."""

from __future__ import annotations

import lxml.html

from dailypapers.community.votes import set_vote
from dailypapers.db.engine import write_transaction
from dailypapers.rank.trending import TrendingParams
from tests.test_votes import DAY, P1, P2, _counts, _load, _session, _users


def _pressed_cards(html: str) -> dict[str, str]:
    doc = lxml.html.fromstring(html)
    return {card.get("data-paper-id"): card.cssselect("button.vote-button")[0].get("aria-pressed")
            for card in doc.cssselect("article.card")}


def _paper_button(html: str):  # type: ignore[no-untyped-def]
    return lxml.html.fromstring(html).cssselect("form.vote-form button")[0]


def test_cards_and_the_paper_page_press_only_your_votes(client, engine) -> None:
    _load(engine, {P1: (12, "08:00"), P2: (14, "09:00")})
    (me, _t), (other, _u) = _users(engine, 2)
    with write_transaction(engine) as conn:
        set_vote(conn, me, P1, True, TrendingParams())
        set_vote(conn, other, P2, True, TrendingParams())  # someone else's vote: not pressed
    cookie, csrf = _session(engine, me)
    client.cookies.set("dp_session", cookie)
    for path in (f"/papers/date/{DAY}", f"/papers/date/{DAY}?sort=upvotes", "/papers"):
        assert _pressed_cards(client.get(path).text) == {P1: "true", P2: "false"}, path
    mine = _paper_button(client.get(f"/papers/{P1}").text)
    assert (mine.get("aria-pressed"), mine.text_content()) == ("true", "Upvoted: take back")
    theirs = _paper_button(client.get(f"/papers/{P2}").text)
    assert (theirs.get("aria-pressed"), theirs.text_content()) == ("false", "Upvote")

    # The form toggles: pressed, it takes the vote back; the page then shows it unpressed.
    back = client.post(f"/papers/{P1}/vote", data={"csrf_token": csrf, "next": f"/papers/{P1}"},
                       follow_redirects=False)
    assert back.status_code == 303
    assert _counts(engine, P1) == (12, 0, 0)
    assert _paper_button(client.get(f"/papers/{P1}").text).get("aria-pressed") == "false"
    assert _pressed_cards(client.get(f"/papers/date/{DAY}").text) == {P1: "false", P2: "false"}

    # The other user sees their own vote pressed, not mine.
    cookie_other, _csrf = _session(engine, other)
    client.cookies.set("dp_session", cookie_other)
    assert _pressed_cards(client.get(f"/papers/date/{DAY}").text) == {P1: "false", P2: "true"}
    # Signed out: counts without buttons.
    client.cookies.clear()
    assert not lxml.html.fromstring(client.get(f"/papers/date/{DAY}").text).cssselect(
        "button.vote-button")
