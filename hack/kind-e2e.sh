#!/usr/bin/env bash
# `make kind-e2e`: the production path on a laptop with Docker (or podman: CONTAINER_ENGINE=podman).
#
#   1. create a kind cluster (kind from PATH, else built with `go install sigs.k8s.io/kind@$KIND_VERSION`);
#   2. build the operator image and load it into the cluster;
#   3. run the Guardrails emulator in the cluster (the same image, `guardrails-emulator --host 0.0.0.0`);
#   4. install the Helm chart (helm built from Go modules, like the test control plane);
#   5. apply the sample EcrPrivacyPolicy with a credentials Secret and wait until it is Ready.
#
# Environment: KIND_CLUSTER (default ecr-privacy-e2e), KIND_NODE_IMAGE (default: kind's own), KEEP=1 to keep
# the cluster afterwards, CONTAINER_ENGINE (docker), TIMEOUT (180s).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-ecr-privacy-e2e}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
ENGINE=${CONTAINER_ENGINE:-docker}
IMAGE=ecr-privacy-operator:e2e
TIMEOUT=${TIMEOUT:-180s}
OPERATOR_NS=ecr-privacy-operator
EMULATOR_NS=guardrails-emulator
POLICY_NS=demo
PY=${PY:-.venv/bin/python}
started=$(date +%s)

log() { echo "[kind-e2e +$(( $(date +%s) - started ))s] $*"; }

command -v "$ENGINE" >/dev/null || { echo "error: $ENGINE is needed for make kind-e2e" >&2; exit 1; }
"$ENGINE" info >/dev/null 2>&1 || { echo "error: $ENGINE is installed but its engine is not running" >&2; exit 1; }
[ -x "$PY" ] || { echo "error: run 'make venv' first" >&2; exit 1; }

# -- tools: kind, helm (Go modules), kubectl (the control plane's, or PATH) ---------------------------------
if command -v kind >/dev/null; then
  KIND=$(command -v kind)
else
  tools="${XDG_CACHE_HOME:-$HOME/.cache}/ecr-privacy-operator/tools/kind-$KIND_VERSION"
  if [ ! -x "$tools/kind" ]; then
    log "building kind $KIND_VERSION with go install"
    CGO_ENABLED=0 GOBIN="$tools" go install "sigs.k8s.io/kind@$KIND_VERSION"
  fi
  KIND="$tools/kind"
fi
HELM=$("$PY" tests/controlplane/build.py --print-helm)
if command -v kubectl >/dev/null; then
  KUBECTL=$(command -v kubectl)
else
  KUBECTL="$("$PY" tests/controlplane/build.py)/kubectl"
fi
# podman names local images localhost/<name>; the cluster must ask for the same reference
IMAGE_REPO=ecr-privacy-operator
if [ "$ENGINE" = podman ]; then
  export KIND_EXPERIMENTAL_PROVIDER=podman
  IMAGE_REPO=localhost/ecr-privacy-operator
fi
IMAGE_REF=$IMAGE_REPO:e2e

KUBECONFIG_FILE=$(mktemp -t kind-e2e-kubeconfig.XXXXXX)
export KUBECONFIG=$KUBECONFIG_FILE

cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    log "FAILED; diagnostics:"
    "$KUBECTL" get pods -A -o wide || true
    "$KUBECTL" -n "$OPERATOR_NS" logs deploy/ecr-privacy-operator --tail=80 || true
    "$KUBECTL" -n "$POLICY_NS" get epp -o yaml || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: cluster $CLUSTER left running (kubeconfig: $KUBECONFIG_FILE)"
  else
    log "deleting cluster $CLUSTER"
    "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    rm -f "$KUBECONFIG_FILE"
  fi
  exit $status
}
trap cleanup EXIT

# -- 1. cluster ----------------------------------------------------------------------------------------------
log "creating kind cluster $CLUSTER"
"$KIND" create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE" --wait 120s \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}

# -- 2. image ------------------------------------------------------------------------------------------------
log "building $IMAGE"
"$ENGINE" build -t "$IMAGE" ${BASE_IMAGE:+--build-arg BASE_IMAGE="$BASE_IMAGE"} .
log "loading $IMAGE into the cluster"
if [ "$ENGINE" = podman ]; then
  archive=$(mktemp -t operator-image.XXXXXX.tar)
  "$ENGINE" save -o "$archive" "$IMAGE_REF" && "$KIND" load image-archive "$archive" --name "$CLUSTER"
  rm -f "$archive"
else
  "$KIND" load docker-image "$IMAGE" --name "$CLUSTER"
fi

# -- 3. the Guardrails emulator in the cluster ----------------------------------------------------------------
log "starting the Guardrails emulator in namespace $EMULATOR_NS"
"$KUBECTL" create namespace "$EMULATOR_NS" --dry-run=client -o yaml | "$KUBECTL" apply -f -
"$KUBECTL" apply -n "$EMULATOR_NS" -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guardrails-emulator
spec:
  replicas: 1
  selector:
    matchLabels: {app: guardrails-emulator}
  template:
    metadata:
      labels: {app: guardrails-emulator}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: emulator
          image: $IMAGE_REF
          imagePullPolicy: Never
          command: [guardrails-emulator, --host, 0.0.0.0, --port, "8080"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /api/latest/turbot/health, port: http}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata:
  name: guardrails-emulator
spec:
  selector: {app: guardrails-emulator}
  ports: [{name: http, port: 8080, targetPort: http}]
YAML
"$KUBECTL" -n "$EMULATOR_NS" rollout status deploy/guardrails-emulator --timeout="$TIMEOUT"

# -- 4. the chart ----------------------------------------------------------------------------------------------
log "installing the chart"
"$KUBECTL" create namespace "$POLICY_NS" --dry-run=client -o yaml | "$KUBECTL" apply -f -
"$HELM" upgrade --install ecr-privacy-operator deploy/helm/ecr-privacy-operator \
  --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="$IMAGE_REPO" --set image.tag=e2e --set image.pullPolicy=Never \
  --set "credentials.secretNamespaces={$POLICY_NS}" --set config.logFormat=plain \
  --wait --timeout "$TIMEOUT"
"$KUBECTL" -n "$OPERATOR_NS" rollout status deploy/ecr-privacy-operator --timeout="$TIMEOUT"

# -- 5. a policy ---------------------------------------------------------------------------------------------
log "applying the sample with its credentials Secret"
"$KUBECTL" -n "$POLICY_NS" create secret generic guardrails-credentials \
  --from-literal=accessKey=emulator-access-key --from-literal=secretKey=emulator-secret-key \
  --from-literal=workspace="http://guardrails-emulator.$EMULATOR_NS.svc:8080" \
  --dry-run=client -o yaml | "$KUBECTL" apply -f -
"$KUBECTL" -n "$POLICY_NS" apply -f deploy/samples/ecrprivacypolicy.yaml
"$KUBECTL" -n "$POLICY_NS" wait epp/ecr-private --for=condition=Ready --timeout="$TIMEOUT"
"$KUBECTL" -n "$POLICY_NS" get epp
log "deleting the policy (the operator detaches and deletes its pack)"
"$KUBECTL" -n "$POLICY_NS" delete epp/ecr-private --timeout="$TIMEOUT"
log "kind e2e passed"
