"""What the core receives, in one pass over the TPP's headers.

The order is the documented one (``translate.py``): header hygiene (hop-by-hop, framing,
``Connection``-named and gateway-owned headers never cross, ``headers.py``), then the
profile's ``remove`` -> ``rename`` -> ``set`` -> ``default``, then the gateway's own headers
(identity, forwarding, then what policies added), each replacing any header of the same
name in any case or ``_`` spelling.

What happens to a header depends only on its spelling and the profile, so it is worked out
once per spelling (TPPs send the same few names on every request) and each request is one
loop of lookups. The per-request exceptions, a ``Connection`` header naming others and
headers a policy or the ingress setting consumed, are compared in canonical form like the
static ones.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, NamedTuple

from gateway.headers import GATEWAY_OWNED_PREFIXES, NOT_FOR_CORE, canonical, connection_named
from gateway.translate import RequestRules, Template, compile_template

if TYPE_CHECKING:
    from gateway.exchange import Exchange

HeaderPairs = list[tuple[str, str]]
_FATES_MAX = 4096  # distinct spellings remembered; beyond that each is worked out per request


class _Fate(NamedTuple):
    """A TPP header spelling's way to the core: its name there ("" = it stops) and its canonical form."""

    name: str
    canonical: str  # of ``name``: what the rules and overrides written after it compare with
    source: str  # canonical form of the TPP's spelling: what per-request drops compare with


_STOPS = _Fate("", "", "")


class CoreHeaders:
    def __init__(self, rules: RequestRules) -> None:
        self.removed = frozenset(name.lower() for name in rules.remove)
        self.renamed = tuple((old.lower(), new) for old, new in rules.rename.items())  # in order
        # One header per name, whatever its spelling in the rules: the last one written wins.
        last = {canonical(name): (name, value) for name, value in rules.set.items()}
        self.set: tuple[tuple[str, Template], ...] = tuple(
            (name, compile_template(value)) for name, value in last.values()
        )
        self.defaults: tuple[tuple[str, str, Template], ...] = tuple(
            (name, canonical(name), compile_template(v)) for name, v in rules.default.items()
        )
        self._set_names = frozenset(last)
        self._fates: dict[str, _Fate] = {}
        # The gateway's forwarding headers go through the profile's rules like a TPP header.
        self._forwarded = (self._translated("X-Forwarded-For", ""), self._translated("X-Forwarded-Proto", ""))

    def build(
        self, ex: Exchange, gateway: Mapping[str, str], always_drop: Collection[str] = frozenset()
    ) -> HeaderPairs:
        """The core's headers: the TPP's, cleaned and translated, then ``gateway``'s (which override)."""
        consumed = _consumed(ex, always_drop)
        out: HeaderPairs = []
        present: set[str] = set()  # canonical names in ``out``
        fates = self._fates
        for name, value in ex.headers.items():
            fate = fates.get(name) or self._fate(name)
            if fate.name and fate.source not in consumed:
                out.append((fate.name, value))
                present.add(fate.canonical)
        for fate, value in zip(self._forwarded, (ex.peer_ip, "https"), strict=True):
            if fate.name:
                out.append((fate.name, value))
                present.add(fate.canonical)
        for name, template in self.set:
            out.append((name, template(ex)))
        present |= self._set_names
        for name, name_canonical, template in self.defaults:
            if name_canonical not in present:
                out.append((name, template(ex)))
                present.add(name_canonical)
        # The gateway's own headers, then what policies set (an API key for the core), each
        # replacing any header of the same name in any spelling: a core that reads X_Core_Key
        # as X-Core-Key must not find a TPP's value next to the gateway's.
        policy = {canonical(name) for name in ex.upstream_headers}
        own = [(name, value) for name, value in gateway.items() if canonical(name) not in policy]
        overrides = policy.union(canonical(name) for name, _ in own)
        if not overrides.isdisjoint(present):
            out = [(name, value) for name, value in out if canonical(name) not in overrides]
        out += own
        out += ex.upstream_headers.items()
        return out

    def _fate(self, name: str) -> _Fate:
        source = canonical(name)
        if source in NOT_FOR_CORE or source.startswith(GATEWAY_OWNED_PREFIXES):
            fate = _STOPS
        else:
            fate = self._translated(name, source)
        if len(self._fates) < _FATES_MAX:
            self._fates[name] = fate
        return fate

    def _translated(self, name: str, source: str) -> _Fate:
        """remove -> rename -> set: a header that ``set`` writes is replaced, not added to.

        ``remove`` and ``rename`` name headers as HTTP does (case-insensitive); what ``set``
        writes replaces every spelling of its name, ``_`` for ``-`` included.
        """
        lowered = name.lower()
        if lowered in self.removed:
            return _STOPS
        for old, new in self.renamed:  # one after the other: A -> B then B -> C takes A to C
            if lowered == old:
                name, lowered = new, new.lower()
        final = canonical(name)
        if final in self._set_names:
            return _STOPS
        return _Fate(name, final, source)


def _consumed(ex: Exchange, always_drop: Collection[str]) -> frozenset[str]:
    """TPP headers that stop here on this request: named by ``Connection``, or used up by a rule."""
    connection = ex.headers.getall("Connection", ())
    if not (connection or ex.dropped_headers or always_drop):
        return frozenset()
    names = connection_named(connection) if connection else set()
    names.update(canonical(name) for name in ex.dropped_headers)
    names.update(canonical(name) for name in always_drop)
    return frozenset(names)
