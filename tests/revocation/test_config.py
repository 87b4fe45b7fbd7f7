"""RevocationConfig loads from YAML-shaped data with the gateway's checks, and refuses bad values."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, Where, build
from gateway.eidas.revocation import RevocationConfig


def test_defaults() -> None:
    """The defaults: CRL then OCSP, 2 s OCSP timeout, 24 h stale GOOD, refresh at 80%."""
    config = RevocationConfig()
    assert (config.mode, config.ocsp_timeout_s, config.max_stale_good_s) == ("crl-then-ocsp", 2.0, 86400.0)
    assert (config.refresh_fraction, config.allow_missing_endpoints) == (0.8, True)


def test_built_from_yaml_keys() -> None:
    """Dashed YAML keys map to fields; the URL list becomes a tuple."""
    data = {"mode": "ocsp-then-crl", "ocsp-timeout-s": 1, "crl-urls": ["http://qtsp.example/ca.crl"]}
    config = build(RevocationConfig, data, Where("gateway.yaml", "revocation"))
    assert (config.mode, config.ocsp_timeout_s) == ("ocsp-then-crl", 1.0)
    assert config.crl_urls == ("http://qtsp.example/ca.crl",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ocsp-timeout-s": 3}, "at most 2"),
        ({"mode": "ocsp-only"}, "must be one of"),
        ({"refresh-fraction": 0}, "at least 0.1"),
        ({"crl-refresh-min-interval-s": 7200}, "must not exceed"),
        ({"ocsp-timeout": 1}, "unknown key"),
    ],
)
def test_bad_values_fail_loudly(data: dict[str, object], message: str) -> None:
    """Out-of-range, unknown and inconsistent values are errors naming the file and path."""
    with pytest.raises(ConfigError, match=message) as error:
        build(RevocationConfig, data, Where("gateway.yaml", "revocation"))
    assert "gateway.yaml" in str(error.value)
