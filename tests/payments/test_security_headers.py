"""The default security headers: added once to every response, never over a view's own."""

from __future__ import annotations

from flask import Flask, Response


def test_defaults_are_added_once_and_a_views_own_value_is_kept(app: Flask) -> None:
    @app.get("/_own-frame-policy")
    def own_frame_policy() -> Response:
        return Response("ok", headers={"x-frame-options": "SAMEORIGIN"})

    headers = app.test_client().get("/_own-frame-policy").headers

    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    for name in (
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Permissions-Policy",
    ):
        assert len(headers.getlist(name)) == 1, name
