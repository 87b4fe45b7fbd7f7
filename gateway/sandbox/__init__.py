"""The built-in sandbox bank core: a small, fast Berlin Group NextGenPSD2 1.3 bank.

It is the demo target behind the gateway, the core the test-suite talks to, and the
upstream for benchmarks, so it answers from precomputed JSON bytes and in-memory dicts.
It speaks plain HTTP on loopback (the gateway in front of it terminates TLS) and holds
three fictitious PSUs (``PSU-1001`` to ``PSU-1003``) with Belgian EUR accounts, about
400 deterministic transactions each, consents (AIS), payments (PIS), confirmation of
funds (PIIS) and a simulated SCA redirect page, ``GET /sandbox/sca/{authorisationId}``.

    server = await start_sandbox()          # http://127.0.0.1:<ephemeral port>
    ...
    await server.close()
"""

from .app import SandboxServer, create_sandbox_app, run_sandbox, start_sandbox

__all__ = ["SandboxServer", "create_sandbox_app", "run_sandbox", "start_sandbox"]
