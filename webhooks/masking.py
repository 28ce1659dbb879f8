"""Mask secrets in raw callback payloads before they are stored or logged."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

MASK = "***"
_SENSITIVE = re.compile(r"hash|signature|sig$|mac$|secret|token|password|authorization|cookie|key$", re.I)
MAX_BODY_CHARS = 16_000


def is_sensitive(name: str) -> bool:
    """Tell whether a field or header name holds a secret or a signature."""
    return bool(_SENSITIVE.search(name))


def mask_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with sensitive keys masked, recursively."""
    masked: dict[str, Any] = {}
    for key, value in values.items():
        if is_sensitive(str(key)):
            masked[key] = MASK
        elif isinstance(value, Mapping):
            masked[key] = mask_mapping(value)
        elif isinstance(value, list):
            masked[key] = [mask_mapping(v) if isinstance(v, Mapping) else v for v in value]
        else:
            masked[key] = value
    return masked


def mask_body(body: bytes, content_type: str) -> str:
    """Return the body as text with sensitive JSON or form fields masked."""
    text = body.decode("utf-8", errors="replace")[:MAX_BODY_CHARS]
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, dict):
            return json.dumps(mask_mapping(parsed), ensure_ascii=False, sort_keys=True)
        return text
    if "form" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        return urlencode([(k, MASK if is_sensitive(k) else v) for k, v in pairs])
    return text
