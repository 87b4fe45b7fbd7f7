"""The one place a rejection becomes an HTTP answer.

Berlin Group NextGenPSD2 1.3.11 section 14.11 error body::

    {"tppMessages": [{"category": "ERROR", "code": "FORMAT_ERROR", "text": "...", "path": "..."}]}

``path`` (optional) names the offending element when the rule knows it.
"""

from __future__ import annotations

import json

from multidict import CIMultiDict

from gateway.errors import Reject

JSON = "application/json"
# tppMessageText has maxLength 512 in the specification.
_MAX_TEXT = 512


def error_body(reject: Reject) -> bytes:
    message = {"category": "ERROR", "code": reject.code.value, "text": reject.text[:_MAX_TEXT]}
    if reject.path:
        message["path"] = reject.path
    return json.dumps({"tppMessages": [message]}, separators=(",", ":")).encode()


def error_headers(reject: Reject, extra: CIMultiDict[str]) -> CIMultiDict[str]:
    headers = CIMultiDict(extra)
    headers.update(reject.headers)
    headers["Content-Type"] = JSON
    headers["Cache-Control"] = "no-store"
    return headers
