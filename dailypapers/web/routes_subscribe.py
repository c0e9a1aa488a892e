"""Digest subscriptions: the form, its double opt-in, one-click unsubscribe, the preferences page.

Thin: the rules live in ``notify/subscriptions.py``, the signed links in ``notify/tokens.py``.

- ``GET /subscribe`` shows the form (the footer's small form sends the address here by GET: a
  CSRF token in every page's footer would set a cookie on every cached page).
  ``POST /subscribe`` (CSRF) writes the row, then mails a confirmation link after the commit.
  The answer is the same whatever the address's state, so nobody learns who is subscribed.
- ``/subscribe/confirm/{token}``: GET shows a button and changes nothing (mail scanners follow
  links); POST (CSRF) confirms.
- ``/unsubscribe/{token}``: GET shows a button; POST unsubscribes with no login, cookie or CSRF
  token: the signed link is the credential, and RFC 8058 one-click POSTs come from mail
  providers that have none.
- ``/subscription/{token}``: the preferences page; its form's CSRF token is an HMAC of the link's
  token and this browser's CSRF value, so a form is good for this link in this browser only.

- ``/admin/mail``: administrators only (403 for anyone else): the addresses bounces and
  complaints stopped (``dailypapers mail bounce``), with the reason and time, each with a button
  (POST ``/admin/mail/unsuppress``, CSRF) that sends to it again (``mail unsuppress``).

A forged, mangled or expired token is a 410 page, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dailypapers.community.secret_key import load_previous_keys
from dailypapers.db.engine import write_transaction
from dailypapers.notify import bounces
from dailypapers.notify import subscriptions as subs
from dailypapers.notify import tokens
from dailypapers.notify import queued_mail
from dailypapers.notify.mail import Mail, deliver
from dailypapers.notify.subscriptions import Preferences, Subscription, SubscriptionError
from dailypapers.settings import Settings
from dailypapers.web.deps import (
    ConnDep, CsrfDep, CurrentUser, PrivateWriteConnDep, RequireUser, User, client_address,
    csrf_token_for, public_base, rate_limit, render, secret_key,
)
from dailypapers.web.request_reads import AppRoute

router = APIRouter(include_in_schema=False, route_class=AppRoute)

FormText = Annotated[str, Form()]
NO_STORE = {"Cache-Control": "no-store"}  # pages reached by a link that is a credential
BAD_LINK = ("This link is not valid, or it has expired. Subscribe again to get a new one; a link "
            "to unsubscribe or to change your digest is in every digest mail.")
STATE_TEXT = {
    "unconfirmed": "waiting for confirmation (follow the link in the mail we sent)",
    "confirmed": "subscribed",
    "unsubscribed": "unsubscribed: nothing is sent",
    "suppressed": "stopped: mail to this address bounced or was reported, nothing is sent",
}


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _keys(request: Request) -> tuple[bytes, ...]:
    """The key that signs new links, then the earlier ones that still verify old links."""
    keys = getattr(request.app.state, "link_keys", None)
    if keys is None:
        keys = request.app.state.link_keys = (
            (secret_key(request),) + load_previous_keys(_settings(request)))
    return keys


def link(request: Request, purpose: str, subscription_id: int) -> str:
    return tokens.link_path(_keys(request)[0], purpose, subscription_id)


def _claims(request: Request, purpose: str, token: str) -> tokens.Claims | None:
    max_age = _settings(request).subscribe_confirm_hours * 3600 if purpose == "confirm" else None
    return tokens.read_token(_keys(request), purpose, token, max_age_seconds=max_age)


def _linked(request: Request, conn: Any, purpose: str, token: str) -> Subscription | None:
    """The subscription a signed link names; None for a forged, expired or stale link."""
    claims = _claims(request, purpose, token)
    return subs.get(conn, claims.subscription_id) if claims else None


def _bad_link(request: Request) -> HTMLResponse:
    response = render(request, "error.html", 410, title="Link not valid", message=BAD_LINK)
    response.headers.update(NO_STORE)
    return response


def _page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    response = render(request, "subscribe_link.html", status, **context)
    response.headers.update(NO_STORE)
    return response


def _form_values(prefs: Preferences | None = None, **typed: str) -> dict[str, Any]:
    """What the form shows: the stored preferences, or what was typed (kept after an error)."""
    if prefs is not None:
        return {"frequency": prefs.frequency, "trending": prefs.trending,
                "max_items": str(prefs.max_items), "categories": " ".join(prefs.categories),
                "searches": "\n".join(prefs.searches), **typed}
    return {"frequency": "daily", "trending": True, "max_items": str(subs.DEFAULT_MAX_ITEMS),
            "categories": "", "searches": "", "email": "", **typed}


def empty_form(**typed: str) -> dict[str, Any]:
    return _form_values(**typed)


def form_context(request: Request, form: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"form": form or _form_values(), "errors": errors or {},
            "max_items_limit": subs.MAX_ITEMS}


# --- subscribing ------------------------------------------------------------------------------


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(request: Request, user: CurrentUser, email: str = "",
                   frequency: str = "daily") -> Response:
    if not email and user is not None:
        email = _account_email(request, user)
    form = _form_values(email=email[:subs.MAX_ADDRESS_CHARS],
                        frequency=frequency if frequency in subs.FREQUENCIES else "daily")
    return render(request, "subscribe.html", sent="", **form_context(request, form))


def _account_email(request: Request, user: User) -> str:
    from dailypapers.community.accounts import user_by_id
    from dailypapers.db.engine import read_transaction

    with read_transaction(request.app.state.engine) as conn:
        return user_by_id(conn, user.id).email or ""


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request, _csrf: CsrfDep, user: CurrentUser, background: BackgroundTasks,
    email: FormText = "", frequency: FormText = "", trending: FormText = "",
    max_items: FormText = "", categories: FormText = "", searches: FormText = "",
) -> Response:
    settings = _settings(request)
    rate_limit(request, settings.ratelimit_subscribe_per_ip, "subscribe", client_address(request))
    form = {"email": email, "frequency": frequency, "trending": bool(trending),
            "max_items": max_items, "categories": categories, "searches": searches}
    try:
        address, key = subs.normalise_address(email)
        prefs = subs.parse_preferences(frequency, bool(trending), max_items, categories, searches)
    except SubscriptionError as exc:
        return render(request, "subscribe.html", 400, sent="",
                      **form_context(request, form, {exc.field: exc.message}))
    # Past the per-address limit the answer is the same, minus the mail: the form must not
    # become a way to flood someone's inbox, nor tell whether an address is subscribed.
    limiter = request.app.state.rate_limiter
    enqueue = request.app.state.mail_queue
    # Subscriptions show on no anonymous page (their links are never cached: web/cache.py).
    with write_transaction(request.app.state.engine, changes=None) as conn:
        requested = subs.request_subscription(conn, address, key, prefs,
                                              user.id if user is not None else None)
        mailed = requested.mail != "none" and limiter.hit(
            settings.ratelimit_subscribe_per_address, "subscribe-address", key) is None
        if mailed and enqueue is not None:  # a worker signs the link when it sends
            mail_id = queued_mail.add(conn, f"subscription_{requested.mail}", public_base(request),
                                      subscription_id=requested.subscription_id)
    if mailed and enqueue is not None:
        background.add_task(enqueue, mail_id)
    elif mailed:
        background.add_task(deliver, request.app.state.engine, request.app.state.mail_backend,
                            settings.mail_from, _mail(request, requested))
    return render(request, "subscribe.html", sent=address,
                  confirm_hours=int(settings.subscribe_confirm_hours))


def _mail(request: Request, requested: subs.Requested) -> Mail:
    return queued_mail.subscription_mail(
        _settings(request), public_base(request), _keys(request)[0],
        f"subscription_{requested.mail}", requested.subscription_id, requested.email)


# --- confirming -------------------------------------------------------------------------------


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, conn: ConnDep) -> Response:
    found = _linked(request, conn, "confirm", token)
    if found is None:
        return _bad_link(request)
    if found.state == "confirmed":
        return _page(request, title="Already confirmed",
                     message=f"{found.email} already receives the digest.",
                     manage_url=link(request, "manage", found.id))
    if found.state != "unconfirmed":
        return _page(request, 409, title="Not subscribed",
                     message=f"{found.email} is {STATE_TEXT[found.state]}. Subscribe again to "
                             f"get a new link.")
    return _page(request, title="Confirm your digest",
                 message=f"Send the {found.preferences.frequency} digest to {found.email}?",
                 button="Confirm", with_csrf=True)


@router.post("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, _csrf: CsrfDep, conn: PrivateWriteConnDep) -> Response:
    claims = _claims(request, "confirm", token)
    state = subs.confirm(conn, claims.subscription_id) if claims else None
    if state is None:
        return _bad_link(request)
    if state != "confirmed":
        return _page(request, 409, title="Not subscribed",
                     message=f"This address is {STATE_TEXT[state]}. Subscribe again to get a "
                             f"new link.")
    return _page(request, title="Subscribed", message="Confirmed: the digest will arrive.",
                 manage_url=link(request, "manage", claims.subscription_id))


# --- unsubscribing ----------------------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, conn: ConnDep) -> Response:
    found = _linked(request, conn, "unsubscribe", token)
    if found is None:
        return _bad_link(request)
    if found.state not in ("unconfirmed", "confirmed"):
        return _page(request, title="Unsubscribed",
                     message=f"{found.email} is {STATE_TEXT[found.state]}.")
    return _page(request, title="Unsubscribe",
                 message=f"Stop sending the digest to {found.email}?", button="Unsubscribe")


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, conn: PrivateWriteConnDep) -> Response:
    # No CSRF token, cookie or login: the signed token is the credential (RFC 8058 one-click,
    # whose body "List-Unsubscribe=One-Click" needs no reading).
    claims = _claims(request, "unsubscribe", token)
    state = subs.unsubscribe(conn, claims.subscription_id) if claims else None
    if state is None:
        return _bad_link(request)
    return _page(request, title="Unsubscribed", message=f"Nothing more is sent: {STATE_TEXT[state]}.")


# --- the preferences page ---------------------------------------------------------------------


def _manage_csrf(request: Request, token: str) -> str:
    browser = csrf_token_for(request)
    return hmac.new(secret_key(request), f"manage:{token}:{browser}".encode(),
                    hashlib.sha256).hexdigest()


def _manage_page(request: Request, token: str, found: Subscription, status: int = 200,
                 form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 notice: str = "") -> HTMLResponse:
    response = render(request, "subscribe_manage.html", status, subscription=found,
                      state_text=STATE_TEXT[found.state], notice=notice,
                      manage_csrf=_manage_csrf(request, token),
                      unsubscribe_path=link(request, "unsubscribe", found.id),
                      **form_context(request, form or _form_values(found.preferences), errors))
    response.headers.update(NO_STORE)
    return response


@router.get("/subscription/{token}", response_class=HTMLResponse)
def manage_page(request: Request, token: str, conn: ConnDep, saved: str = "") -> Response:
    found = _linked(request, conn, "manage", token)
    if found is None:
        return _bad_link(request)
    return _manage_page(request, token, found, notice="Saved." if saved else "")


@router.post("/subscription/{token}", response_class=HTMLResponse)
def manage(
    request: Request, token: str, conn: PrivateWriteConnDep, csrf_token: FormText = "",
    frequency: FormText = "", trending: FormText = "", max_items: FormText = "",
    categories: FormText = "", searches: FormText = "",
) -> Response:
    found = _linked(request, conn, "manage", token)
    if found is None:
        return _bad_link(request)
    if not hmac.compare_digest(csrf_token.encode(), _manage_csrf(request, token).encode()):
        raise HTTPException(403, "the form's security token is missing or stale: reload the page "
                                 "and send it again")
    try:
        prefs = subs.parse_preferences(frequency, bool(trending), max_items, categories, searches)
    except SubscriptionError as exc:
        form = {"frequency": frequency, "trending": bool(trending), "max_items": max_items,
                "categories": categories, "searches": searches}
        return _manage_page(request, token, found, 400, form, {exc.field: exc.message})
    subs.update_preferences(conn, found.id, prefs)
    return RedirectResponse(f"/subscription/{token}?saved=1", status_code=303)


# --- the account page's list ------------------------------------------------------------------


def account_subscriptions(request: Request, conn: Any, user: User) -> list[dict[str, Any]]:
    """The account's subscriptions with their preferences links, for /account (no-store)."""
    return [{"email": s.email, "state": STATE_TEXT[s.state], "frequency": s.preferences.frequency,
             "manage_url": link(request, "manage", s.id)} for s in subs.for_user(conn, user.id)]


def _admin_page(request: Request, conn: Any, status: int = 200, notice: str = "") -> HTMLResponse:
    return render(request, "admin_mail.html", status, rows=bounces.suppressed(conn),
                  total=bounces.suppressed_count(conn), notice=notice)


def _not_admin(request: Request) -> HTMLResponse:
    return render(request, "error.html", 403, title="Forbidden",
                  message="This page is for administrators.")


@router.get("/admin/mail", response_class=HTMLResponse, include_in_schema=False)
def admin_mail(request: Request, conn: ConnDep, user: RequireUser) -> HTMLResponse:
    """The addresses mail stopped going to, and why."""
    if not user.is_admin:
        return _not_admin(request)
    return _admin_page(request, conn)


@router.post("/admin/mail/unsuppress", response_class=HTMLResponse, include_in_schema=False)
def admin_unsuppress(request: Request, _csrf: CsrfDep, user: RequireUser,
                     conn: PrivateWriteConnDep,
                     address: Annotated[str, Form(max_length=400)] = "") -> HTMLResponse:
    """Send to a stopped address again (what `dailypapers mail unsuppress` does)."""
    if not user.is_admin:
        return _not_admin(request)
    try:
        line = bounces.lift(conn, address, f"admin:{user.username}")
    except bounces.NotSuppressed as exc:
        return _admin_page(request, conn, 404, str(exc))
    return _admin_page(request, conn, notice=line)
