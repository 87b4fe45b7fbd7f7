"""Cost of identifying a TPP on an already-validated certificate versus a first sight.

    python bench/bench_identity.py

The identity stage caches the whole verdict (chain, validity, eIDAS content, revocation) by
the certificate's bytes, so a request on a known certificate should cost a dictionary look-up.
Bounded: at most 200,000 cached look-ups and 300 full validations, 10 s each.
"""

from __future__ import annotations

import asyncio
import time

from cryptography.hazmat.primitives.serialization import Encoding

from gateway.eidas.issue import DevCA
from gateway.eidas.validate import CertificateValidator
from gateway.identity import IdentityService

MAX_S = 10.0


async def per_call_us(service: IdentityService, ders: list[bytes], limit: int) -> float:
    started = time.perf_counter()
    done = 0
    while done < limit and time.perf_counter() - started < MAX_S:
        await service.identify(ders[done % len(ders)], "tls")
        done += 1
    return (time.perf_counter() - started) / done * 1e6


async def main() -> None:
    ca = DevCA.create()
    validator = CertificateValidator([ca.issuing.cert])
    cached_der = ca.issue_qwac().cert.public_bytes(Encoding.DER)
    fresh = [
        ca.issue_qwac(organization_id=f"PSDBE-NBB-{i:010d}").cert.public_bytes(Encoding.DER)
        for i in range(300)
    ]
    warm = IdentityService(validator)
    await warm.identify(cached_der, "tls")
    cached = await per_call_us(warm, [cached_der], 200_000)
    first = await per_call_us(IdentityService(validator), fresh, len(fresh))
    print(f"known certificate (cached verdict): {cached:8.2f} us per request")
    print(f"first sight (full validation):      {first:8.2f} us per request")
    print(f"validation work saved per request:  {first - cached:8.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
