"""A browsable API reference rendered from the generated OpenAPI document, and the problem types."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from werkzeug.wrappers import Response

from .errors import PROBLEMS

bp = Blueprint("docs", __name__, url_prefix="/api/v1")


@bp.get("/docs")
def api_docs() -> str:
    """Render the OpenAPI document as a plain HTML page (no scripts, so the CSP stays strict)."""
    from .app import api

    spec: dict[str, Any] = api.spec.to_dict()
    return render_template("api_docs.html", spec=spec, problems=PROBLEMS)


@bp.get("/problems/<slug>")
def problem_type(slug: str) -> Response:
    """Describe one problem type (the ``type`` URI of our problem+json errors)."""
    if slug not in PROBLEMS:
        abort(404)
    title, action = PROBLEMS[slug]
    return jsonify({"type": f"/api/v1/problems/{slug}", "title": title, "what_to_do": action})
