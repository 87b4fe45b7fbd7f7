"""Header hygiene at the trust boundary, both ways.

Hop-by-hop and framing headers never cross the gateway (RFC 9110 7.6.1, RFC 9112 6.1):
the client library frames every body itself, so a smuggled ``Transfer-Encoding`` or a
second ``Content-Length`` cannot reach the core. Headers the gateway owns (its identity
headers, ``X-Forwarded-*``) are removed from the TPP's request in any case or ``_``/``-``
spelling and set only from what the gateway verified itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "content-length",
        "expect",
        "http2-settings",
    }
)
# The TPP must not choose where the request goes or what the core believes about the caller.
GATEWAY_OWNED_PREFIXES = ("x-psd2gw-", "x-forwarded-", "forwarded")
NOT_FORWARDED = frozenset({"host", "forwarded", "x-real-ip"})
NOT_FOR_CORE = HOP_BY_HOP | NOT_FORWARDED  # see core_headers.py for the way to the core
_NOT_FOR_TPP = HOP_BY_HOP | {"content-encoding", "server", "date"}


def canonical(name: str) -> str:
    """``X_Forwarded_For`` and ``x-forwarded-for`` are one header to some servers: compare them as one."""
    return name.lower().replace("_", "-")


def connection_named(values: Iterable[str]) -> set[str]:
    """Headers named by ``Connection`` are hop-by-hop too."""
    return {canonical(token.strip()) for value in values for token in value.split(",") if token.strip()}


def response_headers_for_tpp(incoming: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """The core's headers as the TPP may see them (framing is the gateway's own)."""
    items = list(incoming)
    names = [canonical(name) for name, _ in items]
    named = [value for (_, value), name in zip(items, names, strict=True) if name == "connection"]
    dropped = (_NOT_FOR_TPP | connection_named(named)) if named else _NOT_FOR_TPP
    out: CIMultiDict[str] = CIMultiDict()
    for (name, value), lowered in zip(items, names, strict=True):
        if lowered not in dropped:
            out.add(name, value)
    return out
