"""Which language a citizen sees: ``?lang=``, then their remembered choice, then the invoice's."""

from __future__ import annotations

from flask import g, request, session

#: English is the source language; Vietnamese is the catalogue and the default.
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_SESSION_KEY = "lang"


def _supported(value: object) -> str | None:
    return value if isinstance(value, str) and value in LANGUAGES else None


def select_locale() -> str:
    """Return the language for this request (Flask-Babel's locale selector)."""
    if not request:
        return DEFAULT_LANGUAGE
    return (
        _supported(request.args.get("lang"))
        or _supported(session.get(_SESSION_KEY))
        or _supported(g.get("page_language"))
        or DEFAULT_LANGUAGE
    )


def remember_language() -> None:
    """Keep a ``?lang=`` choice in the session so the POST and the return page stay in it.

    The return page is reached through the provider's redirect, which cannot carry our
    query string; the session cookie (SameSite=Lax) does come back on that top-level GET.
    """
    chosen = _supported(request.args.get("lang"))
    if chosen and session.get(_SESSION_KEY) != chosen:
        session[_SESSION_KEY] = chosen


def chosen_language() -> str | None:
    """Return the language the citizen chose explicitly on this visit, if any."""
    return _supported(request.args.get("lang")) or _supported(session.get(_SESSION_KEY))
