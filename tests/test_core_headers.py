"""The core's headers in one pass: the same as hygiene, then translation, then overrides, step by step.

The reference below is the step-by-step version of the rules (the gateway ran one multidict
per step before), with what ``set``, the gateway and policies write replacing every spelling
of its name (``X_Core_Key`` too: a review found a TPP's underscore spelling reaching the core
next to the gateway's value). The one-pass ``CoreHeaders`` must agree with it on every input,
names compared case-insensitively. One difference is deliberate: a header renamed to a name
the TPP also sent keeps its place on the wire (the steps moved it after the others), so
values are compared per name without their order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from rules.rulekit import identity

from gateway.config import Where, build
from gateway.core_headers import CoreHeaders
from gateway.exchange import Exchange
from gateway.headers import GATEWAY_OWNED_PREFIXES, NOT_FOR_CORE, canonical, connection_named
from gateway.target import parse_target
from gateway.translate import RequestRules, compile_template

NAMES = [
    "X-Request-ID", "x-request-id", "Request-ID", "apiKey", "APIKEY", "Keep", "keep", "A", "B",
    "Connection", "Keep-Alive", "Transfer-Encoding", "Host", "X-Forwarded-For", "X_Forwarded_For",
    "Forwarded", "X-PSD2GW-TPP-Roles", "x_psd2gw_tpp_roles", "X-Real-IP", "X-Ingress-Cert",
    "X-Core-Key", "x_core_key", "A_b",
]  # fmt: skip
VALUES = st.sampled_from(["1", "two", "Keep, A", "close", "x-request-id", "B"])


def exchange(
    headers: list[tuple[str, str]],
    dropped: frozenset[str] | set[str] = frozenset(),
    added: dict[str, str] | None = None,
) -> Exchange:
    ex = Exchange("POST", parse_target("/v1/x"), CIMultiDictProxy(CIMultiDict(headers)), "10.0.0.1", 0.0, 0)
    ex.identity = identity()
    ex.request_id = "rid-1"
    ex.dropped_headers = set(dropped)
    ex.upstream_headers.update(added or {})
    return ex


def reference(
    ex: Exchange, rules: RequestRules, gateway: dict[str, str], always_drop: set[str]
) -> list[tuple[str, str]]:
    items = list(ex.headers.items())
    names = [canonical(name) for name, _ in items]
    dropped = set(NOT_FOR_CORE)
    dropped |= connection_named(v for (_, v), n in zip(items, names, strict=True) if n == "connection")
    dropped |= {canonical(name) for name in ex.dropped_headers | always_drop}
    out = [
        (name, value)
        for (name, value), lowered in zip(items, names, strict=True)
        if lowered not in dropped and not lowered.startswith(GATEWAY_OWNED_PREFIXES)
    ]
    out += [("X-Forwarded-For", ex.peer_ip), ("X-Forwarded-Proto", "https")]
    for name in rules.remove:
        out = [(n, v) for n, v in out if n.lower() != name.lower()]
    for old, new in rules.rename.items():
        moved = [v for n, v in out if n.lower() == old.lower()]
        out = [(n, v) for n, v in out if n.lower() != old.lower()] + [(new, v) for v in moved]

    def override(name: str, value: str) -> None:  # every spelling of the name, "_" for "-" too
        out[:] = [(n, v) for n, v in out if canonical(n) != canonical(name)] + [(name, value)]

    for name, value in rules.set.items():
        override(name, compile_template(value)(ex))
    for name, value in rules.default.items():
        if all(canonical(n) != canonical(name) for n, _ in out):
            out.append((name, compile_template(value)(ex)))
    for name, value in [*gateway.items(), *ex.upstream_headers.items()]:
        override(name, value)
    return out


def by_name(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), []).append(value)
    return {name: sorted(values) for name, values in grouped.items()}


def rules_over(names: list[str], most: int) -> st.SearchStrategy[dict[str, Any]]:
    """Profile request rules naming headers from ``names``, up to ``most`` of each kind."""
    name = st.sampled_from(names)
    return st.fixed_dictionaries(
        {},
        optional={
            "remove": st.lists(name, max_size=most),
            "rename": st.dictionaries(name, name, max_size=most),
            "set": st.dictionaries(name, st.sampled_from(["s", "{request.id}"]), max_size=most),
            "default": st.dictionaries(name, st.just("d"), max_size=most),
        },
    )


RULES = rules_over(NAMES, 2)


@settings(max_examples=400, deadline=None)
@given(
    headers=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=10),
    rules=RULES,
    gateway=st.dictionaries(
        st.sampled_from(["X-PSD2GW-TPP-Roles", "Keep", "X-Forwarded-For", "A-B"]), VALUES
    ),
    added=st.dictionaries(st.sampled_from(["X-Core-Key", "A", "a_b", "keep"]), VALUES, max_size=2),
    dropped=st.sets(st.sampled_from(["apikey", "b", "x_ingress_cert"]), max_size=2),
    always_drop=st.sets(st.sampled_from(["x-ingress-cert"]), max_size=1),
)
def test_one_pass_agrees_with_the_steps(
    headers: list[tuple[str, str]],
    rules: dict[str, Any],
    gateway: dict[str, str],
    added: dict[str, str],
    dropped: set[str],
    always_drop: set[str],
) -> None:
    compiled = build(RequestRules, rules, Where("t"))
    ex = exchange(headers, dropped, added)
    one_pass = CoreHeaders(compiled).build(ex, gateway, frozenset(always_drop))
    assert by_name(one_pass) == by_name(reference(ex, compiled, gateway, always_drop))


def test_hygiene_and_overrides_on_one_request() -> None:
    """Named by Connection, consumed, gateway-owned in any spelling: all stop; the gateway's own win."""
    spec = {"rename": {"Request-ID": "X-Request-ID"}, "set": {"X-Bank": "b"}}
    rules = build(RequestRules, spec, Where("t"))
    ex = exchange(
        [
            ("Request-ID", "r"),
            ("Connection", "X-Hop"),
            ("X-Hop", "h"),
            ("apiKey", "k"),
            ("x_psd2gw_tpp_roles", "PSP_AS"),
            ("X-Bank", "spoof"),
            ("Keep", "1"),
        ],
        dropped={"apikey"},
    )
    out = CoreHeaders(rules).build(ex, {"X-PSD2GW-TPP-Roles": "PSP_PI", "Keep": "gateway"})
    assert by_name(out) == {
        "x-request-id": ["r"],
        "x-forwarded-for": ["10.0.0.1"],
        "x-forwarded-proto": ["https"],
        "x-bank": ["b"],
        "x-psd2gw-tpp-roles": ["PSP_PI"],
        "keep": ["gateway"],
    }


def test_each_spelling_is_worked_out_once() -> None:
    core = CoreHeaders(RequestRules())
    for _ in range(3):
        core.build(exchange([("Keep", "1"), ("keep", "2")]), {})
    assert set(core._fates) == {"Keep", "keep"}
