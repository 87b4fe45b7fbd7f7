"""Policy types by YAML name. A new policy is a module with a class and one line here."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policies.base import Bound, FailMode, Mode, Policy, PolicyType
from gateway.policies.request_id import RequestIdPolicy

REGISTRY: Mapping[str, PolicyType] = {policy.name: policy for policy in (RequestIdPolicy,)}

__all__ = ["REGISTRY", "Bound", "FailMode", "Mode", "Policy", "PolicyType"]
