"""Expiry awareness: warn a TPP in its responses while its QWAC is about to expire.

Berlin Group responses may carry ``tppMessages`` with category WARNING alongside a
successful body (MessageCode2XX ``WARNING``); only JSON object bodies are touched.
"""

from __future__ import annotations

import json

from gateway.identity import Identity

SECONDS_PER_DAY = 86_400


def days_left(identity: Identity, now: float) -> float:
    return (identity.tpp.not_after.timestamp() - now) / SECONDS_PER_DAY


def with_expiry_warning(body: bytes, content_type: str, days: float) -> bytes:
    """The body with a WARNING tppMessage added, or unchanged when it is not a JSON object."""
    if "json" not in content_type:
        return body
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if not isinstance(parsed, dict):
        return body
    messages = parsed.get("tppMessages")
    messages = messages if isinstance(messages, list) else []
    text = f"The QWAC used for this request expires in {max(int(days), 0)} days; renew it in time."
    messages.append({"category": "WARNING", "code": "WARNING", "text": text})
    parsed["tppMessages"] = messages
    return json.dumps(parsed, separators=(",", ":")).encode()
