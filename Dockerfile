# syntax=docker/dockerfile:1
# ecr-privacy-operator: two stages. The first builds a virtualenv with the operator and its dependencies; the
# second copies only that venv into a slim Python image and runs it as a numeric non-root user. Nothing is
# written outside /tmp at run time, so the container works with a read-only root filesystem.
#
#   docker build -t ecr-privacy-operator:dev .
#   docker build --build-arg BASE_IMAGE=<a local python 3.11+ image> -t ecr-privacy-operator:dev .
#
# The same image runs the Guardrails emulator for local clusters: `guardrails-emulator --host 0.0.0.0`.

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies and code in one step: the project is small, and a non-editable install needs both.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile . \
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
# A numeric user and group (no passwd entry needed), so runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /tmp
# 8080: Prometheus metrics (/metrics); 8081: Kopf's liveness endpoint (/healthz).
EXPOSE 8080 8081
ENTRYPOINT ["ecr-privacy-operator", "--liveness=http://0.0.0.0:8081/healthz"]
