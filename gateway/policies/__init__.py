"""Policy types by YAML name. A new policy is a module with a class and one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.policies.accept import AcceptPolicy
from gateway.policies.access_frequency import AccessFrequencyPolicy
from gateway.policies.api_key import ApiKeyPolicy
from gateway.policies.base import Bound, FailMode, Mode, Policy, PolicyType
from gateway.policies.client_id import ClientIdPolicy
from gateway.policies.consent_binding import ConsentBindingPolicy
from gateway.policies.consent_window import ConsentWindowPolicy
from gateway.policies.maintenance_window import MaintenanceWindowPolicy
from gateway.policies.oauth2_token import OAuth2TokenPolicy
from gateway.policies.pisp_consent_scope import PispConsentScopePolicy
from gateway.policies.qseal_signature import QsealSignaturePolicy
from gateway.policies.rate_limit import RateLimitPolicy
from gateway.policies.redirect_uri import RedirectUriPolicy
from gateway.policies.request_id import RequestIdPolicy
from gateway.policies.request_id_replay import RequestIdReplayPolicy
from gateway.policies.request_validation import RequestValidationPolicy
from gateway.policies.tpp_role import TppRolePolicy
from gateway.policies.tpp_status import TppStatusPolicy

_TYPES: tuple[PolicyType, ...] = (
    AcceptPolicy,
    RequestIdPolicy,
    TppStatusPolicy,
    TppRolePolicy,
    PispConsentScopePolicy,
    ApiKeyPolicy,
    ClientIdPolicy,
    RedirectUriPolicy,
    RequestIdReplayPolicy,
    QsealSignaturePolicy,
    RateLimitPolicy,
    ConsentBindingPolicy,
    ConsentWindowPolicy,
    AccessFrequencyPolicy,
    MaintenanceWindowPolicy,
    OAuth2TokenPolicy,
    RequestValidationPolicy,
)
REGISTRY: Mapping[str, PolicyType] = {policy.name: policy for policy in _TYPES}

# Policy types whose decisions need the shared store.
STORE_USERS = frozenset(
    {"request-id-replay", "rate-limit", "access-frequency", "consent-window", "consent-binding"}
)


def fails_closed_on_store(router: Any) -> bool:
    """Whether any route has a store-using rule that fails closed (readiness depends on the store)."""
    return any(
        bound.name in STORE_USERS and bound.fail == "closed" and bound.mode == "enforce"
        for route in router.routes
        for bound in route.policies
    )


__all__ = [
    "REGISTRY",
    "STORE_USERS",
    "Bound",
    "FailMode",
    "Mode",
    "Policy",
    "PolicyType",
    "fails_closed_on_store",
]
