"""x509-limbo's client-path cases through the gateway's own path validation, against a baseline.

x509-limbo (C2SP, Apache-2.0) publishes its suite as one ``limbo.json``. This repository may
not carry it, so the test looks for it in ``PSD2GW_LIMBO_JSON`` or
``../shared/testdata/x509-limbo/limbo.json`` and skips, saying where it looked, when it is
absent.

Every case runs through ``CertificateValidator.check_path``: the validity window and the
chain to an anchor. The QcStatement checks that follow in ``validate`` are not limbo's
subject. A case's ``extended_key_usage: [clientAuth]`` turns on the validator's
``require-client-auth-eku`` setting, and its ``max_chain_depth`` is passed through.

The 10 CLIENT cases are the ones the issue names. The SERVER cases run too, with no peer
name: their path rules (basic constraints, path length, name constraints, key usage,
validity) apply to a QWAC's chain just the same. Where the gateway decides otherwise than
limbo expects, ``DIVERGENCES`` gives the reason: by design, or upstream behaviour, recorded.

``limbo_baseline.json`` holds the gateway's own decision per case id, recorded from a run of
the suite. A decision that changes fails the test, whichever way it goes. After a deliberate
change, re-record with ``PSD2GW_LIMBO_RECORD=1`` and review the diff. A disagreement with
limbo's expected result that no entry of ``DIVERGENCES`` explains fails as well.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from gateway.eidas.validate import CertificateValidator
from gateway.errors import Reject

HERE = Path(__file__).parent
BASELINE = HERE / "limbo_baseline.json"
DEFAULT_SUITE = HERE.parents[2] / "shared" / "testdata" / "x509-limbo" / "limbo.json"

_NO_NAMES = "server-name matching (SAN/CN against a host name): the gateway validates no server name"
_UPSTREAM = "cryptography.x509.verification decides this case otherwise (upstream behaviour, recorded)"
# (case id or id prefix ending in '::' or '-', why the gateway's decision differs from limbo's)
DIVERGENCES: tuple[tuple[str, str], ...] = (
    ("webpki::san::", _NO_NAMES),
    ("webpki::cn::", _NO_NAMES),
    ("rfc5280::san::", "SAN presence and criticality are not required of QWACs: many have none"),
    ("crl::", "revocation is decided after the path by the revocation checker (CRL, OCSP), not here"),
    ("rfc5280::eku::", "no EKU is required unless require-client-auth-eku is set: QTSPs drop clientAuth"),
    ("webpki::eku::", "no EKU is required unless require-client-auth-eku is set: QTSPs drop clientAuth"),
    (
        "webpki::forbidden-",
        "WebPKI key-strength rules are not path rules here: the seal check enforces min-rsa-bits, "
        "the TLS handshake OpenSSL's security level",
    ),
    ("online::", "live sites' chains: their EKU and name policies are the WebPKI's, not a QWAC's"),
    ("rfc5280::ca-as-leaf", "stricter by design: a CA certificate is never a TPP's certificate"),
    ("rfc5280::validity::notafter-fractional", "stricter: an ambiguous end of validity is refused"),
    ("rfc5280::aki::", _UPSTREAM),
    ("rfc5280::ski::", _UPSTREAM),
    ("webpki::aki::", _UPSTREAM),
    ("pathlen::", _UPSTREAM),
    ("pathological::nc-dos-3", _UPSTREAM),
    ("rfc5280::nc::permitted-dns-match-noncritical", _UPSTREAM),
    ("rfc5280::nc::permitted-dn-match", _UPSTREAM),
    ("rfc5280::pc::", _UPSTREAM),
    ("rfc5280::serial::", _UPSTREAM),
)


def divergence_reason(case_id: str) -> str | None:
    for pattern, reason in DIVERGENCES:
        if case_id == pattern or (pattern.endswith(("::", "-")) and case_id.startswith(pattern)):
            return reason
    return None


def suite_path() -> Path:
    return Path(os.environ.get("PSD2GW_LIMBO_JSON") or DEFAULT_SUITE)


def suite_cases() -> list[dict[str, Any]]:
    return list(json.loads(suite_path().read_text(encoding="utf-8"))["testcases"])


def decide(case: dict[str, Any]) -> str:
    """SUCCESS or FAILURE, as the gateway's path validation decides the case."""
    with warnings.catch_warnings():  # e.g. the zero-serial cases: cryptography warns, and parses
        warnings.simplefilter("ignore")
        anchors = [x509.load_pem_x509_certificate(pem.encode()) for pem in case["trusted_certs"]]
        presented = [x509.load_pem_x509_certificate(p.encode()) for p in case["untrusted_intermediates"]]
        peer = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
    when = case["validation_time"]
    now = time.time() if when is None else _epoch(when)
    try:
        validator = CertificateValidator(
            anchors,
            require_client_auth_eku="clientAuth" in (case["extended_key_usage"] or []),
            max_chain_depth=case["max_chain_depth"] if case["max_chain_depth"] is not None else 4,
        )
        validator.check_path(peer, presented, now=now)
    except Reject:
        return "FAILURE"
    return "SUCCESS"


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def decisions(kind: str) -> Iterator[tuple[str, str, str]]:
    """(id, limbo's expected result, the gateway's decision) per case of that validation kind."""
    for case in suite_cases():
        if case["validation_kind"] == kind:
            yield case["id"], case["expected_result"], decide(case)


@pytest.mark.parametrize("kind", ["CLIENT", "SERVER"])
def test_limbo_cases_match_the_recorded_baseline(kind: str) -> None:
    path = suite_path()
    if not path.is_file():
        pytest.skip(f"x509-limbo suite not found at {path} (set PSD2GW_LIMBO_JSON)")
    ran = list(decisions(kind))
    assert ran, f"the suite has no {kind} cases"
    if os.environ.get("PSD2GW_LIMBO_RECORD"):
        _record(ran)
    recorded = json.loads(BASELINE.read_text(encoding="utf-8"))
    changed = {
        case_id: (recorded.get(case_id), ours) for case_id, _, ours in ran if recorded.get(case_id) != ours
    }
    assert not changed, f"decisions changed against the baseline (was, now): {changed}"
    unexplained = sorted(
        case_id for case_id, expected, ours in ran if expected != ours and divergence_reason(case_id) is None
    )
    assert not unexplained, f"disagreements with limbo's expected result without a reason: {unexplained}"
    if kind == "CLIENT":
        assert all(expected == ours for _, expected, ours in ran), "every client-path case as limbo expects"


def _record(ran: list[tuple[str, str, str]]) -> None:
    recorded = json.loads(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else {}
    recorded.update({case_id: ours for case_id, _, ours in ran})
    BASELINE.write_text(json.dumps(dict(sorted(recorded.items())), indent=2) + "\n", encoding="utf-8")
