#!/usr/bin/env bash
# `make image`: build the operator image with podman, with no Docker engine and no container registry.
#
#   1. tools: podman, debootstrap and runc from Debian's packages (installed with apt-get when missing);
#   2. the base image: a Debian bookworm minbase root filesystem (debootstrap) with python3 and python3-venv,
#      imported into podman's store as $BASE_IMAGE. It is made once and reused (several minutes the first
#      time); bump BASE_REVISION below when the recipe changes, and a new base is made under a new tag;
#   3. the project's image: `podman build --isolation=chroot` (no OCI runtime, no daemon) of ./Dockerfile with
#      --build-arg BASE_IMAGE=$BASE_IMAGE, tagged $IMAGE and <repository of $IMAGE>:$VERSION (the tag the Helm
#      chart deploys by default: its appVersion, which equals the version in pyproject.toml).
#
# Environment: IMAGE (ecr-privacy-operator:dev), BASE_IMAGE (the local bookworm base; set it to a Python
# image you already have, e.g. python:3.11-slim, to skip making one), DEBIAN_MIRROR (debootstrap's default),
# VERSION (from pyproject.toml). If pip on this machine needs a custom CA bundle (PIP_CERT, or pip's
# `global.cert`), the build gets it as a build secret: it is used by pip and never stored in a layer.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
BASE_REVISION=1
BASE_IMAGE=${BASE_IMAGE:-localhost/ecr-privacy-operator-base:$SUITE-r$BASE_REVISION}
IMAGE=${IMAGE:-ecr-privacy-operator:dev}
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n1)}
VERSIONED_IMAGE=${IMAGE%:*}:$VERSION
BASE_PACKAGES=(python3 python3-venv)
started=$(date +%s)

log() { echo "[image +$(( $(date +%s) - started ))s] $*"; }
die() { echo "error: $*" >&2; exit 1; }

# -- 1. tools ---------------------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
# runc: for the image tests' `podman --runtime runc run` (podman's default crun refuses this kind of machine).
command -v runc >/dev/null || need+=(runc)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "${need[*]} missing; install them (Debian: apt-get install ${need[*]}) or run as root"
  command -v apt-get >/dev/null || die "${need[*]} missing and this is not a Debian-like system: install them"
  log "installing ${need[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
log "$(podman --version)"

# -- 2. the local base image ------------------------------------------------------------------------------
make_base() {
  [ "$(id -u)" = 0 ] || die "making the base image needs root (debootstrap and chroot)"
  local root t0
  t0=$(date +%s)
  root=$(mktemp -d "${TMPDIR:-/tmp}/ecr-privacy-base-XXXXXX")
  # shellcheck disable=SC2064
  trap "umount -R '$root/proc' 2>/dev/null || true; rm -rf '$root'" EXIT
  log "making the base image $BASE_IMAGE (first time only, about a minute)"
  log "  debootstrap --variant=minbase $SUITE (downloads Debian packages)"
  # Like Debian's slim images: no documentation, manual pages or translations.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  # shellcheck disable=SC2086
  debootstrap --variant=minbase "$SUITE" "$root" ${DEBIAN_MIRROR:-} >"$root.debootstrap.log" 2>&1 \
    || { tail -n 30 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; die "debootstrap failed"; }
  rm -f "$root.debootstrap.log"
  log "  debootstrap done in $(( $(date +%s) - t0 ))s"

  # Security updates too: the same mirror's -security suite, derived from the sources.list debootstrap wrote.
  local sources="$root/etc/apt/sources.list"
  local security
  security=$(sed -n "s#^deb \(.*\)/debian $SUITE main#deb \1/debian-security $SUITE-security main#p" "$sources")
  [ -n "$security" ] && echo "$security" >>"$sources"
  mount -t proc proc "$root/proc"
  log "  apt-get install ${BASE_PACKAGES[*]} (with $SUITE-security updates)"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -ec "apt-get update -q; apt-get upgrade -y -q; apt-get install -y -q --no-install-recommends ${BASE_PACKAGES[*]}; apt-get clean" \
    >"$root.apt.log" 2>&1 || { tail -n 30 "$root.apt.log" >&2; rm -f "$root.apt.log"; die "apt-get in the base failed"; }
  rm -f "$root.apt.log"
  umount "$root/proc"
  # Nothing that only served the install: package lists, caches, logs, docs already excluded above.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
  # Device nodes are the container engine's business (it mounts /dev at run time), as in Debian's images.
  rm -rf "${root:?}"/dev/*
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" -mindepth 1 -delete 2>/dev/null || true
  log "  importing into podman as $BASE_IMAGE ($(du -sh "$root" | cut -f1))"
  tar --numeric-owner --xattrs -C "$root" -c . | podman import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $SUITE + ${BASE_PACKAGES[*]} (ecr-privacy-operator base r$BASE_REVISION)" \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
  log "base image $BASE_IMAGE made in $(( $(date +%s) - t0 ))s"
}

if podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE: cached"
elif [[ $BASE_IMAGE == localhost/ecr-privacy-operator-base:* ]]; then
  make_base
else
  die "base image $BASE_IMAGE is not in podman's store (no registry is used: load or build it first)"
fi

# -- 3. the project's image -------------------------------------------------------------------------------
# The inputs' digest (build context, Dockerfile, base image id, version) is stored as a label: when it is
# unchanged the image is up to date and nothing is built (FORCE=1 builds anyway).
inputs=$(
  {
    podman image inspect --format '{{.Id}}' "$BASE_IMAGE"
    echo "$VERSION"
    find Dockerfile .dockerignore pyproject.toml requirements.lock README.md operator -type f \
      ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path 'operator/*.egg-info/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-32
)
if [ -z "${FORCE:-}" ] && podman image exists "$IMAGE" \
  && [ "$(podman image inspect --format '{{index .Labels "dev.ecrprivacy.inputs"}}' "$IMAGE")" = "$inputs" ]; then
  podman tag "$IMAGE" "$VERSIONED_IMAGE"
  log "$IMAGE (also $VERSIONED_IMAGE) is up to date (inputs $inputs); FORCE=1 rebuilds it"
  exit 0
fi
previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
build_args=(--isolation=chroot --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION"
  --label "dev.ecrprivacy.inputs=$inputs" -t "$IMAGE" -t "$VERSIONED_IMAGE")
ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  log "pip on this machine uses a custom CA bundle: passing it to the build as the secret pip_ca"
  build_args+=(--secret "id=pip_ca,src=$ca")
fi
log "podman build ${build_args[*]} ."
t0=$(date +%s)
podman build "${build_args[@]}" .
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE and $VERSIONED_IMAGE in $(( $(date +%s) - t0 ))s: $(( size / 1000000 )) MB (base $BASE_IMAGE)"
# The build stage stays behind as an untagged image of ~350 MB per build, and so does the image this build
# replaced: remove both (only ours: by label, and by id when nothing else uses it).
podman image prune --force --filter label=dev.ecrprivacy.stage=build >/dev/null || true
new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$previous" ] && [ "$previous" != "$new" ]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
