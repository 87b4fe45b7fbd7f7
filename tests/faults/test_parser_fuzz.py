"""Property tests for the parsers of untrusted input that had none: YAML policy sets, settings, Accept.

Already covered elsewhere (``grep -rl hypothesis tests``): the request target
(tests/test_target.py), ingress certificate headers incl. XFCC (tests/test_ingress.py), DER and
QCStatements (tests/eidas/test_der.py, test_identity.py), signature headers
(tests/signatures/test_properties.py), OpenAPI request validation
(tests/openapi/test_openapi_properties.py), store keys (tests/store/test_open_store.py), log
and stats reports (tests/report/). Policy authors and operators are trusted less than they
think: a typo must become a located ``ConfigError``, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError
from gateway.policies import REGISTRY
from gateway.policies.accept import accepts, parse_media
from gateway.policyset import load_policy_set
from gateway.settings import ENV_PREFIX, load_settings

pytestmark = pytest.mark.resilience

# FUZZ_EXAMPLES=20000 for a longer local run.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Scalars YAML authors actually write, plus the odd ones YAML resolves by itself.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["GET", "POST", "/v1/**", "/v1/{id}", "1s", "10m", "1d", "enforce", "shadow", "open"]),
    st.sampled_from(["closed", "PSP_AI", "AIS", "{tpp}", "{header:X}", "Europe/Brussels", "America", "."]),
)
KEYS = st.one_of(
    st.sampled_from(["name", "path", "methods", "service", "host", "max-body-bytes", "policies", "mode"]),
    st.sampled_from(["fail", "limits", "count", "per", "key", "algorithm", "any-of", "window-s", "offers"]),
    st.sampled_from(["profile", "defaults", "routes", "timezone", "windows", "max-per-day", "scheme"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
POLICY_ENTRY = st.one_of(
    st.sampled_from(sorted(REGISTRY)),
    st.dictionaries(
        st.sampled_from(sorted(REGISTRY)), VALUES | st.dictionaries(KEYS, VALUES), min_size=1, max_size=1
    ),
    VALUES,
)
ROUTE = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | st.integers(),
        "path": st.sampled_from(["/v1/a", "/v1/{x}/**", "/v1/**/x", "v1", "", "/{a}{b}", "/a/{}"])
        | st.text(max_size=12),
        "methods": st.lists(st.sampled_from(["GET", "POST", "get", "BREW"]), max_size=3) | VALUES,
        "service": st.sampled_from(["AIS", "PIS", "PIIS", "XXX"]) | VALUES,
        "policies": st.lists(POLICY_ENTRY, max_size=4) | VALUES,
        "max-body-bytes": st.integers(-5, 10**6) | VALUES,
    },
)
POLICY_FILE = st.fixed_dictionaries(
    {},
    optional={
        "routes": st.lists(ROUTE | VALUES, max_size=4) | VALUES,
        "defaults": st.fixed_dictionaries({"policies": st.lists(POLICY_ENTRY, max_size=3)}) | VALUES,
        "profile": st.dictionaries(KEYS, VALUES, max_size=3) | VALUES,
    },
)
# Raw YAML: structure dumped then cut or spliced, anchors and tags, and anything at all.
YAML_SNIPPETS = st.sampled_from(
    [
        "&a [*a]",
        "a: &x {b: *x}",
        "<<: 5",
        "? [1, 2]\n: x",
        "!!python/object:os.system {}",
        "!!binary AAAA",
        "!!set {a, b}",
        "routes: !!omap [a: 1]",
        "2024-01-01: x",
        "routes:\n  - name: a\n    path: /a\n    policies:\n"
        "      - rate-limit: {limits: [{count: 1, per: 1s}]}",
        "\t",
        "'",
        "[" * 200,
        "- " * 200 + "x",
    ]
)


def yaml_text(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


TEXT_YAML = st.one_of(
    POLICY_FILE.map(yaml_text),
    st.tuples(POLICY_FILE.map(yaml_text), st.integers(0, 400), YAML_SNIPPETS).map(
        lambda t: t[0][: t[1]] + t[2]
    ),
    YAML_SNIPPETS,
    st.text(max_size=200),
)


ROUTE_A = "routes:\n  - name: a\n    path: /a\n    policies: "


def load_policy_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "routes.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        load_policy_set(Path(directory), max_body_bytes=1024)


@FUZZ
@given(TEXT_YAML)
@example(ROUTE_A + "[{access-frequency: {timezone: America}}]\n")
@example(ROUTE_A + "[{oauth2-token: {audience: [x]}}]\n")
@example(ROUTE_A + "[{request-validation: {spec: /nonexistent}}]\n")
@example(ROUTE_A + "[{maintenance-window: {windows: [{start: 1, end: 2}]}}]\n")
@example(ROUTE_A + "[{rate-limit: {limits: [{count: 1, per: 99999999999999999999d}]}}]\n")
@example("routes: &r [{name: a, path: /a, policies: *r}]\n")
def test_policy_set_loader_raises_only_config_error(text: str) -> None:
    """Any YAML text as a policy file: a policy set, or a ConfigError naming the file."""
    try:
        load_policy_text(text)
    except ConfigError as e:
        assert "routes.yaml" in str(e) or "policy set" in str(e)


@pytest.mark.parametrize("text", ["", "# routes come later\n", "---\n"])
def test_empty_policy_file_is_a_config_error_or_no_routes(text: str) -> None:
    """An empty policy file is either an empty set of routes or a located ConfigError."""
    try:
        load_policy_text(text)
    except ConfigError as e:
        assert "routes.yaml" in str(e)


SECTIONS = ["listen", "metrics", "identity", "audit", "lifecycle", "tls", "upstream", "upstreams", "store"]
SETTINGS_FILE = st.dictionaries(
    st.sampled_from([*SECTIONS, "policies", "log-level", "max-body-bytes", "dev-pki", "log-hash-key"]) | KEYS,
    VALUES,
    max_size=5,
)
ENV_NAMES = st.one_of(
    st.tuples(st.sampled_from(SECTIONS), KEYS).map(lambda t: f"{ENV_PREFIX}{t[0].upper()}__{t[1].upper()}"),
    st.sampled_from(["LOG_LEVEL", "STORE", "STORE__URL__X", "_", "__", "STORE____URL", "POLICIES"]).map(
        lambda n: ENV_PREFIX + n
    ),
    st.text(max_size=10).map(lambda n: ENV_PREFIX + n),
)
ENV_VALUES = st.one_of(st.text(max_size=30), SCALARS.map(lambda v: yaml.safe_dump(v).strip()), YAML_SNIPPETS)


@FUZZ
@given(st.one_of(SETTINGS_FILE.map(yaml_text), TEXT_YAML), st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=4))
@example("store: x\n", {f"{ENV_PREFIX}STORE__URL": "redis://x"})
@example("", {f"{ENV_PREFIX}LISTEN__PORT": "70000"})
@example("", {f"{ENV_PREFIX}IDENTITY__INGRESS__TRUSTED_PROXIES": "[999.1.1.1/8]"})
@example("", {f"{ENV_PREFIX}UPSTREAM__TOTAL_TIMEOUT_S": ".nan"})
def test_settings_loader_raises_only_config_error(text: str, environ: dict[str, str]) -> None:
    """Any settings YAML with any PSD2GW_ variables: settings, or a ConfigError."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gateway.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(ConfigError):
            load_settings(path, environ=environ)


MEDIA_SYNTAX = st.sampled_from(
    [*'/;=,"* \t', "q=", "q=0", "q=1", "q=nan", "q=inf", "q=-1", "json", "+", "version=2"]
)
MEDIA_TEXT = st.one_of(
    st.text(max_size=60), st.lists(st.one_of(MEDIA_SYNTAX, st.text(max_size=4)), max_size=20).map("".join)
)
OFFER = (("application", "json", frozenset()), 1.0)


@FUZZ
@given(MEDIA_TEXT)
def test_accept_media_range_parser_is_total(text: str) -> None:
    """Any media range: None, or (type, subtype, lower-case params) with a float q."""
    parsed = parse_media(text)
    if parsed is None:
        return
    (kind, sub, params), q = parsed
    assert kind and sub and kind == kind.lower() and sub == sub.lower()
    assert all(name == name.lower() and value == value.lower() for name, value in params)
    assert isinstance(q, float)
    accepts([parsed], OFFER[0])


@FUZZ
@given(MEDIA_TEXT)
@example("application/json;q=nan")
@example("application/json;q=inf")
@example("application/json;q=-0.5")
def test_accept_q_values_follow_rfc_9110(text: str) -> None:
    """RFC 9110 12.4.2: a weight is 0 to 1 with at most three decimals; anything else is malformed."""
    parsed = parse_media(text)
    if parsed is not None:
        q = parsed[1]
        assert math.isfinite(q) and 0.0 <= q <= 1.0, text
