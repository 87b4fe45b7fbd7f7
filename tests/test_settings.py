"""Settings: file, environment overrides, and errors that name file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError
from gateway.settings import BUILTIN_SANDBOX, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_no_file_is_the_embedded_default() -> None:
    """Nothing configured: built-in sandbox core, in-memory store, dev PKI, port 8443."""
    settings = load_settings(None, environ={})
    assert settings.upstream.url == BUILTIN_SANDBOX
    assert settings.store.url == "memory://"
    assert settings.tls.cert is None
    assert settings.listen.port == 8443


def test_file_values_and_dashed_keys(tmp_path: Path) -> None:
    """Keys are written with dashes in YAML and land in the typed model."""
    path = write(
        tmp_path,
        "upstream:\n  url: https://core.bank.local:8443/psd2\n  connect-timeout-s: 1.5\n"
        "store:\n  url: redis://127.0.0.1:6379/0\n  budget-ms: 25\n",
    )
    settings = load_settings(path, environ={})
    assert settings.upstream.url == "https://core.bank.local:8443/psd2"
    assert settings.upstream.connect_timeout_s == 1.5
    assert settings.store.budget_ms == 25
    assert settings.source == str(path)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """PSD2GW_SECTION__KEY overrides section.key and is read as a YAML scalar."""
    path = write(tmp_path, "listen:\n  port: 9443\n")
    environ = {"PSD2GW_LISTEN__PORT": "10443", "PSD2GW_STORE__URL": "redis://r:6379", "OTHER": "x"}
    settings = load_settings(path, environ=environ)
    assert settings.listen.port == 10443
    assert settings.store.url == "redis://r:6379"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("listen:\n  port: 70000\n", {}, r"gateway.yaml:2 listen.port: must be at most 65535; got 70000"),
        ("listen:\n  prot: 1\n", {}, r"gateway.yaml:2 listen.prot: unknown key"),
        ("upstream:\n  url: ftp://x\n", {}, r"gateway.yaml:1 upstream: upstream.url must start with http"),
        ("store:\n  budget-ms: fast\n", {}, r"gateway.yaml:2 store.budget-ms: expected a whole number"),
        ("listen: [1, 2]\n", {}, r"gateway.yaml:1 listen: expected a mapping, got a list"),
        ("listen:\n  port: 1\n  port: 2\n", {}, r"duplicate key 'port'"),
        ("listen: {port: 1\n", {}, r"not valid YAML"),
        ("", {"PSD2GW_LISTEN__PORT": "many"}, r"listen.port: expected a whole number, got 'many'"),
        (
            "",
            {"PSD2GW_TLS__REQUIRE_CLIENT_CERT": "maybe"},
            r"tls.require-client-cert: expected true or false",
        ),
    ],
)
def test_bad_settings_name_file_line_key_and_problem(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    """A bad setting stops start-up with a message naming where and what."""
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text), environ=environ)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A settings path that does not exist is named in the error."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_shipped_example_settings_load() -> None:
    """config/gateway.yaml, the documented example, is valid."""
    example = Path(__file__).resolve().parents[1] / "config" / "gateway.yaml"
    settings = load_settings(example, environ={})
    assert settings.store.url.startswith("redis://")
    assert settings.identity.revocation.mode == "crl-then-ocsp"
