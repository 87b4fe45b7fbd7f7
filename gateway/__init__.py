"""psd2-gateway: a PSD2 reverse-proxy API gateway for bank cores."""

__version__ = "0.1.0"
