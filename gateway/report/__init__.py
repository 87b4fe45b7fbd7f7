"""``psd2-gateway report``: availability and performance statistics of the dedicated interface.

RTS Art. 32(4) and EBA/GL/2018/07 Guidelines 2 and 3 ask a bank to publish, quarterly, daily
statistics on the availability and performance of its PSD2 dedicated interface. This package
computes them from what the gateway already emits:

    logs.py        stream ``request`` events out of JSON-lines logs (files, ``-``, ``.gz``)
    stats.py       aggregate them per period and service: the rows of the report
    prometheus.py  or compute the same rows from two ``/metrics`` scrapes (approximate latency)
    render.py      a fixed-width table or CSV
    cli.py         ``add_report_parser`` / ``run_report``
"""

from __future__ import annotations

from gateway.errors import GatewayError


class ReportError(GatewayError):
    """An input the report cannot use: unreadable file, bad date, inconsistent options."""
