"""The one place a rejection becomes an HTTP answer, in the route's error dialect.

Berlin Group NextGenPSD2 1.3.11 section 14.11 error body (the default dialect)::

    {"tppMessages": [{"category": "ERROR", "code": "FORMAT_ERROR", "text": "...", "path": "..."}]}

``path`` (optional) names the offending element when the rule knows it. Other dialects
(RFC 7807 problem+json, Belfius-style) are in ``gateway.dialects``.
"""

from __future__ import annotations

from multidict import CIMultiDict

from gateway.dialects import BerlinGroup, Dialect
from gateway.errors import Reject

DEFAULT_DIALECT: Dialect = BerlinGroup()


def error_body(reject: Reject, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
    return dialect.render(reject)


def error_headers(
    reject: Reject, extra: CIMultiDict[str], dialect: Dialect = DEFAULT_DIALECT
) -> CIMultiDict[str]:
    headers = CIMultiDict(extra)
    headers.update(reject.headers)
    headers["Content-Type"] = dialect.content_type
    headers["Cache-Control"] = "no-store"
    return headers
