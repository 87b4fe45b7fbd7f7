"""Routes: which requests the gateway serves, and the ordered policies each one runs.

A path template is literal text with ``{name}`` for one path segment and a trailing ``/**``
for any further segments (``/v1/accounts/{account-id}/**``). Templates compile to one regex
at load; matching is first match in file order, so put specific routes before general ones.
A request that matches no route never reaches the core.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from gateway.errors import Code, Reject
from gateway.profiles import DEFAULT_PROFILE, Profile

if TYPE_CHECKING:
    from gateway.policies import Bound

Service = Literal["AIS", "PIS", "PIIS", "SBS", "OAUTH", "OTHER"]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_PARAM = re.compile(r"\{([A-Za-z][A-Za-z0-9_-]*)\}")


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    service: Service
    methods: frozenset[str]
    path_template: str
    pattern: re.Pattern[str]
    host: str | None
    max_body_bytes: int
    policies: tuple[Bound, ...]
    profile: Profile = DEFAULT_PROFILE
    needs_consent: bool = False
    answer: str | None = None  # the gateway answers itself (gateway.local_answers); nothing is forwarded


def compile_template(template: str) -> re.Pattern[str]:
    """``/v1/accounts/{id}/**`` -> a regex over the raw (still percent-encoded) path."""
    if not template.startswith("/"):
        raise ValueError("a path template must start with '/'")
    tail = template.endswith("/**")
    body = template[:-3] if tail else template
    if "*" in body:
        raise ValueError("'**' is only allowed as the last segment ('/**')")
    regex, last = [], 0
    for match in _PARAM.finditer(body):
        regex.append(re.escape(body[last : match.start()]))
        regex.append(f"(?P<{match.group(1).replace('-', '_')}>[^/]+)")
        last = match.end()
    regex.append(re.escape(body[last:]))
    if "{" in body[last:] or "}" in body[last:]:
        raise ValueError("a parameter must look like {name}")
    suffix = "(?:/.*)?" if tail else "/?"
    return re.compile("".join(regex) + suffix + r"\Z")


class Router:
    """Finds the route for a method, host and path; 404 or 405 otherwise.

    Routes bound to the request's host (a brand, by ``host`` or its profile's ``hosts``) are
    tried before routes for any host, so a brand's routes are never shadowed by general ones.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self.by_host: dict[str, tuple[Route, ...]] = {}
        for host in {h for r in routes for h in _hosts(r)}:
            self.by_host[host] = tuple(r for r in routes if host in _hosts(r))
        self.any_host = tuple(r for r in routes if not _hosts(r))

    def match(self, method: str, host: str | None, path: str) -> Route:
        path_matched = False
        for route in (*self.by_host.get(host or "", ()), *self.any_host):
            if not route.pattern.match(path):
                continue
            if method in route.methods:
                return route
            path_matched = True
        if path_matched:
            raise Reject(
                Code.SERVICE_INVALID, f"Method {method} is not allowed on this resource.", status=405
            )
        raise Reject(Code.RESOURCE_UNKNOWN, "No such resource.", status=404)


def _hosts(route: Route) -> frozenset[str]:
    return frozenset({route.host}) if route.host else route.profile.hosts
