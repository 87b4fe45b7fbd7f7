"""Shared fixtures: a real Redis-compatible server, test PKI, the gateway over real TLS."""

pytest_plugins = ["support.redis_fixtures", "support.gateway_fixtures"]
