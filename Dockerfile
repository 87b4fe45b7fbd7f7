# syntax=docker/dockerfile:1
#
# psd2-gateway container image.
#
#   docker build -t psd2-gateway .
#   docker run --rm -p 8443:8443 -p 9464:9464 -v ./deploy:/etc/psd2-gateway/tls:ro ... psd2-gateway
#
# The runtime stage has no build tools and runs as UID/GID 10001; nothing at run time
# needs a shell (exec-form entry point; the chart's preStop hook runs python directly).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# Build the wheel, then install it with the `speed` extra (uvloop) into the venv.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && set -- /wheels/psd2_gateway-*.whl \
 && /opt/venv/bin/pip install "$1[speed]"

FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="psd2-gateway" \
      org.opencontainers.image.description="PSD2 reverse-proxy API gateway (eIDAS mTLS, Berlin Group policies)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/psd2-gateway/psd2-gateway"
RUN groupadd --system --gid 10001 psd2gw \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin psd2gw
COPY --from=builder /opt/venv /opt/venv
# The shipped Berlin Group policy set and the documented settings file (paths in it are the
# ones the Helm chart mounts: /etc/psd2-gateway/tls, /etc/psd2-gateway/trust).
COPY policies/ /etc/psd2-gateway/policies/
COPY config/gateway.yaml /etc/psd2-gateway/gateway.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
# Relative paths in gateway.yaml (policies: policies/berlin-group) resolve from here.
WORKDIR /etc/psd2-gateway
USER 10001:10001
EXPOSE 8443 9464
# SIGTERM drains in-flight requests; SIGHUP reloads policies, registry and trust store.
STOPSIGNAL SIGTERM
ENTRYPOINT ["psd2-gateway"]
CMD ["run", "--config", "/etc/psd2-gateway/gateway.yaml"]
