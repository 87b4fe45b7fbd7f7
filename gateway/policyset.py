"""Load a policy set (a directory of YAML files) into routes with compiled policies.

File shape (every file of the set, read in name order; routes keep file order)::

    profile: {...}            # optional: dialect, hosts, core, translation (gateway.profiles)
    defaults:                 # optional, for the routes of this file
      policies: [request-id]  # run before each route's own policies
    routes:
      - name: ais-accounts
        service: AIS
        path: /v1/accounts/**
        methods: [GET]
        policies:
          - some-policy: {key: value, mode: shadow, fail: closed}

A policy entry is a name, or a one-key mapping from the name to its settings. ``mode`` and
``fail`` are common to every policy; the rest is checked against the policy's own model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.config import ConfigError, LocatedDict, Where, build, convert, doc, load_yaml
from gateway.policies import REGISTRY, Bound, FailMode, Mode
from gateway.profiles import Profile, ProfileSpec, compile_profile
from gateway.routes import METHODS, Route, Router, Service, compile_template


@dataclass(frozen=True)
class RouteSpec:
    name: str = doc("Route name, used in logs and metrics.")
    path: str = doc("Path template: literal, {param} segments, optional trailing /**.")
    methods: list[str] = doc("HTTP methods this route serves.", factory=lambda: ["GET"])
    service: Service = doc("PSD2 service for metrics and role checks.", default="OTHER")
    host: str | None = doc("Serve only requests for this Host (no port).", default=None)
    max_body_bytes: int | None = doc("Override of the gateway's request body limit.", default=None, minimum=0)
    policies: list[Any] = doc("Ordered policy entries.", factory=list)
    answer: Literal["maintenance-windows"] | None = doc(
        "The gateway answers this route itself (after its policies); nothing goes to the core.", default=None
    )


@dataclass(frozen=True)
class Defaults:
    policies: list[Any] = doc("Policy entries run before every route's own ones.", factory=list)


@dataclass(frozen=True)
class PolicyFile:
    profile: ProfileSpec = field(default_factory=ProfileSpec)
    defaults: Defaults = field(default_factory=Defaults)
    routes: list[Any] = doc("The routes of this file.", factory=list)


@dataclass(frozen=True)
class PolicySet:
    router: Router
    files: tuple[Path, ...]


def load_policy_set(directories: Path | Sequence[Path], *, max_body_bytes: int) -> PolicySet:
    """Read, validate and compile every ``*.yaml`` of the directories; errors name file, line and path.

    Several directories make one set (e.g. a brand's routes beside the Berlin Group ones).
    """
    directories = [directories] if isinstance(directories, Path) else list(directories)
    files: tuple[Path, ...] = ()
    for directory in directories:
        files += _yaml_files(directory)
    directory = directories[0]
    routes: list[Route] = []
    for path in files:
        routes.extend(_load_file(path, max_body_bytes))
    names = [r.name for r in routes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{directory}: route names must be unique; repeated: {', '.join(duplicates)}")
    return PolicySet(Router(routes), files)


def _yaml_files(directory: Path) -> tuple[Path, ...]:
    if not directory.is_dir():
        raise ConfigError(f"{directory}: the policy set directory does not exist")
    files = tuple(sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml")))
    if not files:
        raise ConfigError(f"{directory}: the policy set has no .yaml files")
    return files


def _load_file(path: Path, max_body_bytes: int) -> list[Route]:
    where = Where(str(path))
    raw = load_yaml(path) or LocatedDict()  # an empty (or comments-only) file has no routes
    spec = build(PolicyFile, raw, where)
    route_lines = getattr(raw.get("routes"), "item_lines", [])
    raw_defaults = raw.get("defaults")
    default_lines = getattr(raw_defaults.get("policies"), "item_lines", []) if raw_defaults else []
    defaults_where = where.child("defaults").child("policies")
    defaults = [
        _bind(entry, defaults_where.child(i, _at(default_lines, i)))
        for i, entry in enumerate(spec.defaults.policies)
    ]
    profile = compile_profile(spec.profile)
    routes = []
    for i, item in enumerate(spec.routes):
        route_where = where.child("routes").child(i, _at(route_lines, i))
        routes.append(_compile_route(item, route_where, defaults, max_body_bytes, profile))
    return routes


def _compile_route(
    item: Any, where: Where, defaults: list[Bound], max_body_bytes: int, profile: Profile
) -> Route:
    spec = build(RouteSpec, item, where)
    try:
        pattern = compile_template(spec.path)
    except ValueError as e:
        raise where.key("path", item).error(str(e)) from e
    bad = [m for m in spec.methods if m not in METHODS]
    if bad:
        raise where.key("methods", item).error(f"unknown method {bad[0]!r} (allowed: {', '.join(METHODS)})")
    lines = getattr(item.get("policies"), "item_lines", [])
    own = [
        _bind(entry, where.child("policies").child(i, _at(lines, i))) for i, entry in enumerate(spec.policies)
    ]
    return Route(
        name=spec.name,
        service=spec.service,
        methods=frozenset(spec.methods),
        path_template=spec.path,
        pattern=pattern,
        host=spec.host.lower() if spec.host else None,
        max_body_bytes=max_body_bytes if spec.max_body_bytes is None else spec.max_body_bytes,
        policies=tuple(defaults + own),
        profile=profile,
        answer=spec.answer,
        needs_consent=any(getattr(b.policy, "needs_consent", False) for b in defaults + own),
    )


def _bind(entry: Any, where: Where) -> Bound:
    name, settings = _split_entry(entry, where)
    policy_type = REGISTRY.get(name)
    if policy_type is None:
        raise where.error(f"unknown policy {name!r} (known: {', '.join(sorted(REGISTRY))})")
    settings = dict(settings)
    here = where.child(name)
    mode: Mode = convert(Mode, settings.pop("mode", "enforce"), here.child("mode"))
    fail: FailMode = convert(FailMode, settings.pop("fail", policy_type.default_fail), here.child("fail"))
    located = LocatedDict(settings)
    located.key_lines = getattr(entry.get(name) if isinstance(entry, Mapping) else None, "key_lines", {})
    config = build(policy_type.Config, located, here)
    return Bound(policy_type(config), mode, fail)


def _split_entry(entry: Any, where: Where) -> tuple[str, Mapping[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping) and len(entry) == 1:
        name, settings = next(iter(entry.items()))
        if settings is None:
            settings = {}
        if not isinstance(settings, Mapping):
            raise where.child(name).error("policy settings must be a mapping")
        return name, settings
    raise where.error("a policy entry is a name, or a mapping of one name to its settings")


def _at(lines: list[int], index: int) -> int:
    return lines[index] if index < len(lines) else 0
