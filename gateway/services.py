"""Shared services some policies need beyond their own configuration, handed over per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.audit import AuditLog
    from gateway.identity import IdentityService


@dataclass(frozen=True, slots=True)
class Services:
    seals: IdentityService  # validates QSealCs (QcType eseal) like QWACs: chain, validity, revocation
    audit: AuditLog | None = None
