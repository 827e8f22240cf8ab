#!/usr/bin/env bash
# `make lock` / `make lock-check`: requirements.lock, the operator's runtime dependencies (pyproject.toml's
# [project].dependencies, no extras) and the image's build backend (hack/image-build.in), each pinned with the
# sha256 hashes of every file the registry has for it, for any platform (--universal) from Python 3.11 on.
# The Dockerfile installs it with `pip install --require-hashes`.
#
# uv resolves in about a second and writes a requirements file that plain pip reads, so the image build needs
# no uv. It keeps the pins already in the output file while they still satisfy pyproject.toml; `--upgrade`
# (`make lock LOCK_ARGS=--upgrade`) moves every pin to the newest allowed version.
#
#   hack/lock.sh            # rewrite requirements.lock
#   hack/lock.sh --check    # exit 1 when requirements.lock is not what pyproject.toml resolves to now
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
[ -x "$UV" ] || UV=$(command -v uv) || { echo "error: uv not found: make venv installs it (the dev extra)" >&2; exit 1; }

compile() {  # $1: the output file (its pins are kept as preferences)
  "$UV" pip compile --quiet pyproject.toml hack/image-build.in --generate-hashes --universal \
    --python-version 3.11 --custom-compile-command "make lock" --output-file "$1" "${@:2}"
}

if [ "${1:-}" = "--check" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  cp requirements.lock "$scratch/requirements.lock"
  compile "$scratch/requirements.lock"
  if ! diff -u requirements.lock "$scratch/requirements.lock" >"$scratch/diff"; then
    cat "$scratch/diff" >&2
    echo "error: requirements.lock is stale against pyproject.toml: run \`make lock\` and commit it" >&2
    exit 1
  fi
  echo "requirements.lock is current"
else
  compile requirements.lock "$@"
  echo "wrote requirements.lock"
fi
