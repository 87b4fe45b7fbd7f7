"""The TPP registry: loading, look-ups, API keys, redirect URIs and safe reloads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gateway.config import ConfigError
from gateway.eidas.oids import Role
from gateway.registry import RegistryHolder, load_registry

KEY_HASH = "sha256:" + hashlib.sha256(b"s3cret").hexdigest()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return path


def test_entries_and_unknown_tpps(tmp_path: Path) -> None:
    """Listed TPPs keep their fields; unknown ones follow unknown-tpps."""
    registry = load_registry(
        write(
            tmp_path,
            "unknown-tpps: reject\ntpps:\n  PSDBE-NBB-1:\n    status: blocked\n"
            f"    api-keys: ['{KEY_HASH}', dev-key]\n"
            "    roles: [PSP_AI]\n    redirect-uris: [https://tpp.example/cb, 'https://tpp.example/app/*']\n",
        )
    )
    entry = registry.lookup("PSDBE-NBB-1")
    assert entry is not None and entry.status == "blocked"
    assert entry.granted_roles == frozenset({Role.PSP_AI})
    assert entry.accepts_api_key("s3cret") and entry.accepts_api_key("dev-key")
    assert not entry.accepts_api_key("S3CRET") and not entry.accepts_api_key(KEY_HASH)
    assert entry.accepts_redirect("https://tpp.example/cb")
    assert entry.accepts_redirect("https://tpp.example/app/return?x=1")
    assert not entry.accepts_redirect("https://tpp.example/cb/other")
    assert registry.lookup("PSDBE-NBB-2") is None


@pytest.mark.parametrize(("mode", "status"), [("admit", "active"), ("pending", "pending")])
def test_unknown_tpps_admitted_or_pending(tmp_path: Path, mode: str, status: str) -> None:
    """admit: any valid QWAC (the PSD2 default); pending: known but not yet approved."""
    registry = load_registry(write(tmp_path, f"unknown-tpps: {mode}\n"))
    entry = registry.lookup("PSDBE-NBB-9")
    assert entry is not None and entry.status == status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tpps:\n  PSDBE-NBB-1: {status: gone}\n",
            r"registry.yaml:2 tpps.PSDBE-NBB-1.status: must be one of",
        ),
        ("tpps:\n  PSDBE-NBB-1: {roles: [PSP_XX]}\n", r"tpps.PSDBE-NBB-1: .*PSP_XX"),
        ("tpps:\n  VAT-1: {}\n", r"tpps.VAT-1: keys are QWAC organizationIdentifiers"),
        ("unknown-tpps: maybe\n", r"unknown-tpps: must be one of admit, pending, reject"),
        ("tpps:\n  PSDBE-NBB-1: {apikeys: []}\n", r"tpps.PSDBE-NBB-1.apikeys: unknown key"),
    ],
)
def test_bad_registries_name_the_place(tmp_path: Path, text: str, expected: str) -> None:
    """A registry error names file, line and YAML path."""
    with pytest.raises(ConfigError, match=expected):
        load_registry(write(tmp_path, text))


def test_reload_swaps_on_change_and_keeps_the_old_registry_when_invalid(tmp_path: Path) -> None:
    """An invalid edit is refused and the registry in force stays."""
    path = write(tmp_path, "tpps:\n  PSDBE-NBB-1: {status: active}\n")
    holder = RegistryHolder(path)
    assert not holder.reload_if_changed()
    path.write_text("tpps:\n  PSDBE-NBB-1: {status: blocked}\n")
    os.utime(path, ns=(1, 1))
    assert holder.reload_if_changed()
    entry = holder.current.lookup("PSDBE-NBB-1")
    assert entry is not None and entry.status == "blocked"
    path.write_text("tpps: [broken\n")
    os.utime(path, ns=(2, 2))
    with pytest.raises(ConfigError):
        holder.reload_if_changed()
    entry = holder.current.lookup("PSDBE-NBB-1")
    assert entry is not None and entry.status == "blocked"
