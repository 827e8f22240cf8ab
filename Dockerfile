# syntax=docker/dockerfile:1
# ecr-privacy-operator: two stages. The first builds a virtualenv with the operator and its dependencies; the
# second copies only that venv into a slim Python image and runs it as a numeric non-root user. Nothing is
# written outside /tmp at run time, so the container works with a read-only root filesystem.
#
#   docker build -t ecr-privacy-operator:dev .
#   docker build --build-arg BASE_IMAGE=<a local python 3.11+ image> -t ecr-privacy-operator:dev .
#   make image    # podman, no Docker engine, no registry: a local Debian bookworm base (docs/image.md)
#
# BASE_IMAGE is any Debian-like image with python3 >= 3.11 and its venv module: both stages use it, so the
# venv's interpreter link (/usr/local/bin/python3 in python:*-slim, /usr/bin/python3 in Debian) holds. From a
# registry it is pinned by digest (refresh: `docker buildx imagetools inspect python:3.11-slim`); `make image`
# passes its local base instead. Dependencies come only from requirements.lock, checked by their hashes.
# The same image runs the Guardrails emulator for local clusters: `guardrails-emulator --host 0.0.0.0` (plain
# HTTP: its --tls needs the `emulator` extra, which the image leaves out).

ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${BASE_IMAGE} AS build
# Lets `make image` remove this stage's leftover image after a build (podman image prune --filter label=...).
LABEL dev.ecrprivacy.stage=build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The runtime user, 65532, gets a passwd and group entry ("nonroot", as in distroless images): Kopf names the
# operator user@host with getpass.getuser(), which fails for a uid that /etc/passwd does not know.
RUN echo 'nonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin' >>/etc/passwd \
    && echo 'nonroot:x:65532:' >>/etc/group
# `python3`, not `python`: Debian's own python3 (the local base) has no `python` command.
RUN python3 -m venv /opt/venv
# The locked set first (its own layer, reused while requirements.lock is unchanged): every package, the
# build backend included, at the version and with the hashes of requirements.lock (`make lock`), so a
# rebuild next month installs the same files. The optional secret pip_ca is a CA bundle for pip behind a
# TLS-inspecting proxy (hack/image.sh passes the host's); as a secret it is never stored in a layer.
COPY requirements.lock ./
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/venv/bin/pip install --no-cache-dir --no-compile --require-hashes -r requirements.lock
# Then the project itself, with nothing fetched (--no-index) and nothing resolved (--no-deps); `pip check`
# proves the lock covers its dependencies. The venv then loses what only served the build.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile --no-index --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools wheel \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv \
    && /opt/venv/bin/ecr-privacy-operator --help >/dev/null

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ecr-privacy-operator" \
      org.opencontainers.image.description="Keeps Turbot Guardrails' 'Enforce AWS ECR Repositories Are Private' policy pack in sync with EcrPrivacyPolicy objects" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode is compiled at build time; at run time Python must not try to write it (read-only root FS).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=build /opt/venv /opt/venv
COPY --from=build /etc/passwd /etc/group /etc/
# Numeric, so that runAsNonRoot can verify it; named nonroot in /etc/passwd.
USER 65532:65532
WORKDIR /tmp
# 8080: Prometheus metrics (/metrics); 8081: Kopf's liveness endpoint (/healthz).
EXPOSE 8080 8081
ENTRYPOINT ["ecr-privacy-operator", "--liveness=http://0.0.0.0:8081/healthz"]
