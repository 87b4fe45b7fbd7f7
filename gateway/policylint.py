"""``policies check``: what loading cannot see — routes no request can reach, odd rule orders.

Loading already refuses unknown policies, unknown keys, wrong types and out-of-range values
(with file, line and YAML path). On top of that:
* unreachable route (error): an earlier route serves the same host and every method of this
  one on a path this route's own template produces, so first-match never gets here;
* repeated policy on one route (warning): usually a copy-paste slip;
* consent rules without ``consent-binding`` first (warning): another TPP's consent would be
  counted and judged before being refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.policyset import PolicySet
from gateway.routes import Route

_PARAM = re.compile(r"\{[^}]+\}")
_CONSENT_RULES = {"access-frequency", "consent-window"}


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    route: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: route {self.route}: {self.message}"


def lint(policy_set: PolicySet) -> list[Finding]:
    routes = policy_set.router.routes
    findings: list[Finding] = []
    for index, route in enumerate(routes):
        findings += _unreachable(route, routes[:index])
        findings += _repeated(route)
        findings += _consent_order(route)
    return findings


def _sample_path(template: str) -> str:
    """A concrete path the template matches: parameters filled, the ``/**`` tail dropped."""
    body = template[:-3] if template.endswith("/**") else template
    return _PARAM.sub("x", body) or "/"


def _hosts(route: Route) -> frozenset[str]:
    return frozenset({route.host}) if route.host else route.profile.hosts


def _unreachable(route: Route, earlier: tuple[Route, ...]) -> list[Finding]:
    sample = _sample_path(route.path_template)
    for other in earlier:
        same_hosts = _hosts(other) == _hosts(route) or not _hosts(other)
        covers = other.pattern.match(sample + "/deeper") or not route.path_template.endswith("/**")
        if same_hosts and route.methods <= other.methods and other.pattern.match(sample) and covers:
            return [Finding("error", route.name, f"unreachable: route {other.name} matches first")]
    return []


def _repeated(route: Route) -> list[Finding]:
    names = [bound.name for bound in route.policies]
    twice = sorted({name for name in names if names.count(name) > 1 and name != "rate-limit"})
    return [Finding("warning", route.name, f"policy {name} appears more than once") for name in twice]


def _consent_order(route: Route) -> list[Finding]:
    names = [bound.name for bound in route.policies]
    uses = [i for i, name in enumerate(names) if name in _CONSENT_RULES]
    if not uses:
        return []
    binding = names.index("consent-binding") if "consent-binding" in names else None
    if binding is None or binding > uses[0]:
        return [Finding("warning", route.name, "consent rules run before consent-binding (or without it)")]
    return []
