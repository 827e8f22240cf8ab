"""The chart's pod, as a kubelet would run it: nothing here runs a kubelet, so this test does its part.

From ``helm template`` of the chart (its default values, and ``ci/all-values.yaml``) it takes the operator
container's ``command``/``args`` (over the image's ENTRYPOINT/CMD), its ``env`` with the downward-API values
filled in, its securityContext (numeric uid/gid, read-only root, every capability dropped, no privilege
escalation), its volumes (the ServiceAccount token and CA at the in-cluster path, the CA-bundle ConfigMap,
``/tmp``) and its ports; applies the rendered ServiceAccount and RBAC for real; and starts the image's own
files as a container (podman, host network) with ``KUBERNETES_SERVICE_HOST``/``_PORT`` pointing at the local
API server. The sample then reaches Ready, and the startup, liveness and readiness probes answer on the ports
the Deployment declares. A typo in an env name, an arg, a port or a mount path fails here.

Deviations, each for the shared test bed: the default values get ``credentials.secretNamespaces`` (as the
README's install command sets it); the all-values image (``registry.invalid``) is replaced by the local one;
and when another process holds a declared port, the chart is rendered with free ports instead.
"""

from __future__ import annotations

import copy
import json
import resource
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests.chart.conftest import CHART, run_helm, template_args
from tests.controlplane import build
from tests.controlplane.harness import ControlPlane, free_port
from tests.fixtures.emulator import ACCOUNT_AKA, ADMIN_KEY, EmulatorProcess
from tests.fixtures.image import (
    SA_DIR,
    http_get,
    kubectl_ok,
    mounted_token,
    podman,
    policy_ready,
    status_fields,
    wait_until_allowed,
)
from tests.fixtures.kube import GROUP, PLURAL, VERSION, wait_for

pytestmark = [pytest.mark.image, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ALL_VALUES = CHART / "ci" / "all-values.yaml"
WORKSPACE_SAMPLE = ROOT / "deploy" / "samples" / "guardrailsworkspace.yaml"
SAMPLE = ROOT / "deploy" / "samples" / "ecrprivacypolicy.yaml"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
POD_SUFFIX = "-5d8f7c9b4-x2x7q"  # what the Deployment's ReplicaSet adds to the pod's name


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _render(release: str, release_ns: str, values: Path | None, sets: list[str]) -> list[dict[str, Any]]:
    args = template_args(
        namespace=release_ns, release=release, values_files=[values] if values else [], set_values=sets
    )
    return [d for d in yaml.safe_load_all(run_helm(build.helm_path(), *args).stdout) if d]


def _env(
    container: dict[str, Any], pod: dict[str, Any], pod_name: str, release_ns: str, api_port: str
) -> dict[str, str]:
    """The container's env as the kubelet resolves it, plus the service variables it injects."""
    fields = {
        "metadata.name": pod_name,
        "metadata.namespace": release_ns,
        "spec.serviceAccountName": pod["serviceAccountName"],
        "spec.nodeName": "node-1",
        "status.podIP": "127.0.0.1",
    }
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": api_port}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["fieldRef"]["fieldPath"]  # the chart uses only the downward API
        assert ref in fields, f"env {item['name']}: a downward-API field this test does not know: {ref}"
        env[item["name"]] = fields[ref]
    return env


def _security(pod: dict[str, Any], container: dict[str, Any]) -> tuple[int, int, list[str]]:
    """uid, gid and the podman flags that apply the rendered securityContext (all of it must be hardened)."""
    pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", uid))
    assert isinstance(uid, int), uid
    assert isinstance(gid, int), gid
    assert uid > 0
    assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert not sc["capabilities"].get("add")
    flags = ["--user", f"{uid}:{gid}", "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges"]
    if pod_sc.get("fsGroup"):
        flags += ["--group-add", str(pod_sc["fsGroup"])]
    return uid, gid, flags


def _volumes(
    pod: dict[str, Any],
    container: dict[str, Any],
    sa_dir: Path,
    configmaps: dict[str, dict[str, str]],
    tmp: Path,
) -> list[str]:
    """podman flags for the container's volumeMounts, and the ServiceAccount mount the kubelet adds."""
    assert pod.get("automountServiceAccountToken", True) is True
    flags = ["--volume", f"{sa_dir}:{SA_DIR}:ro"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m")
            flags += ["--tmpfs", f"{mount['mountPath']}:rw,size={size},mode=1777"]
        elif "configMap" in volume:
            data = configmaps[volume["configMap"]["name"]]
            directory = tmp / f"configmap-{mount['name']}"
            directory.mkdir()
            for item in volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]:
                (directory / item["path"]).write_text(data[item["key"]])
                (directory / item["path"]).chmod(0o644)
            directory.chmod(0o755)
            flags += ["--volume", f"{directory}:{mount['mountPath']}:ro"]
        else:
            raise AssertionError(f"volume {mount['name']}: a kind this test does not mount: {volume}")
    return flags


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_the_rendered_pod_runs_the_sample_to_ready(
    values: Path | None,
    image: dict[str, Any],
    kube: ControlPlane,
    crd: dict[str, Any],
    emulator: EmulatorProcess,
    custom_objects: k8s.CustomObjectsApi,
    api_client: k8s.ApiClient,
    tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    release_ns = f"rel-{suffix}"
    # the sample's namespace: one the rendered operator watches and may read Secrets in
    policy_ns = "team-a" if values else f"pod-{suffix}"
    for name in (release_ns, policy_ns, "team-b"):  # team-a and team-b: the namespaces all-values names
        kube.kubectl("create", "namespace", name, check=False)
    sets = [] if values else [f"credentials.secretNamespaces={{{policy_ns}}}"]
    sets += [
        "allowedWorkspaceHosts={http://127.0.0.1:*}"
    ]  # the emulator's host, as an admin allows their workspace's
    if not (_port_free(8080) and _port_free(8081)):
        sets += [f"metrics.port={free_port()}", f"health.port={free_port()}"]
    # a release name of its own: the cluster-scoped RBAC must not replace the ClusterRoles that the other
    # tests' operators run with (a release named ecr-privacy-operator would)
    objects = _render(f"pod-{suffix}", release_ns, values, sets)

    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = image["Config"]
    if values is None:
        # the chart's default image is the one `make image` tagged (ecr-privacy-operator:<appVersion>)
        tagged = json.loads(podman("image", "inspect", container["image"]))[0]
        assert tagged["Id"] == image["Id"], f"{container['image']} is not the image `make image` built"
    argv = container.get("command") or config["Entrypoint"]
    argv = [*argv, *(container.get("args") if "args" in container else config.get("Cmd") or [])]

    # the rendered ServiceAccount and RBAC, for real
    rbac = [o for o in objects if o["kind"] in RBAC_KINDS]
    kubectl_ok(
        kube, "apply", "--server-side", "--force-conflicts", "-f", "-", input_text=yaml.safe_dump_all(rbac)
    )
    sa = pod["serviceAccountName"]
    wait_until_allowed(
        kube,
        f"system:serviceaccount:{release_ns}:{sa}",
        [
            ("watch", "ecrprivacypolicies.ecrprivacy.dev", policy_ns),
            ("get", "secrets", policy_ns),
            ("patch", "clusterkopfpeerings.kopf.dev", ""),
        ],
    )
    sa_dir = mounted_token(kube, release_ns, sa, tmp_path / "serviceaccount")

    # what the release's users create: the credentials, the default Secret and the CA ConfigMap it names
    access, secret = ADMIN_KEY
    core = k8s.CoreV1Api(api_client)
    creds = {"accessKey": access, "secretKey": secret}
    kube.kubectl("delete", "secret", "guardrails-credentials", "-n", policy_ns, check=False)
    core.create_namespaced_secret(
        policy_ns, {"metadata": {"name": "guardrails-credentials"}, "stringData": creds}
    )
    workspace = next(
        d for d in yaml.safe_load_all(WORKSPACE_SAMPLE.read_text()) if d["kind"] == "GuardrailsWorkspace"
    )
    workspace["spec"]["url"] = emulator.url
    kube.kubectl("apply", "-n", policy_ns, "-f", "-", input_text=yaml.safe_dump(workspace))
    pod_name = deployment["metadata"]["name"] + POD_SUFFIX
    env = _env(container, pod, pod_name, release_ns, kube.server.rsplit(":", 1)[1])
    configmaps: dict[str, dict[str, str]] = {}
    for volume in pod.get("volumes", []):
        if "configMap" in volume:  # a CA bundle: any valid one will do, Guardrails is the emulator over HTTP
            key = volume["configMap"]["items"][0]["key"]
            configmaps[volume["configMap"]["name"]] = {key: (kube.run_dir / "serving-ca.crt").read_text()}

    uid, gid, security = _security(pod, container)
    cmd = [
        "podman",
        "--runtime",
        "runc",
        "run",
        "--rm",
        "--name",
        f"rendered-pod-{suffix}",
        "--network",
        "host",
    ]
    for flag, limit in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        value = min(4096, *(v for v in resource.getrlimit(limit) if v != resource.RLIM_INFINITY))
        cmd += ["--ulimit", f"{flag}={value}:{value}"]
    cmd += security + _volumes(pod, container, sa_dir, configmaps, tmp_path)
    cmd += ["--workdir", config.get("WorkingDir") or "/", "--entrypoint", json.dumps(argv[:1])]
    for key, value in env.items():
        cmd += ["--env", f"{key}={value}"]
    cmd += [image["Id"], *argv[1:]]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    def probe(kind: str) -> int:
        get = container[kind]["httpGet"]
        port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        return http_get(f"http://127.0.0.1:{port}{get['path']}")[0]

    log_path = tmp_path / "pod.log"
    name = yaml.safe_load(SAMPLE.read_text())["metadata"]["name"]
    peering = env.get("ECR_PRIVACY_PEERING_NAME")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:

        def started() -> bool:
            assert proc.poll() is None, f"the pod's container exited:\n{log_path.read_text()[-4000:]}"
            return probe("startupProbe") == 200

        wait_for(started, timeout=90, interval=0.3, what="the startup probe")
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", f"rendered-pod-{suffix}").strip())
        status = status_fields(pid)
        assert status["Uid"].split() == [str(uid)] * 4
        assert status["Gid"].split() == [str(gid)] * 4
        assert int(status["CapEff"], 16) == 0
        assert status["NoNewPrivs"] == "1"

        body = copy.deepcopy(yaml.safe_load(SAMPLE.read_text()))
        body["metadata"]["namespace"] = policy_ns
        body["spec"].setdefault("policyPack", {})["akas"] = [f"rendered-pod-{suffix}"]
        assert body["spec"]["attachments"] == [{"resource": ACCOUNT_AKA}]
        custom_objects.create_namespaced_custom_object(GROUP, VERSION, policy_ns, PLURAL, body)

        def ready() -> bool:
            assert proc.poll() is None, f"the pod's container exited:\n{log_path.read_text()[-4000:]}"
            return policy_ready(
                custom_objects.get_namespaced_custom_object(GROUP, VERSION, policy_ns, PLURAL, name)
            )

        wait_for(ready, timeout=90, interval=0.5, what=f"{policy_ns}/{name} Ready")
        assert (probe("startupProbe"), probe("livenessProbe")) == (200, 200)
        wait_for(lambda: probe("readinessProbe") == 200, timeout=30, what="the readiness probe")
        custom_objects.delete_namespaced_custom_object(GROUP, VERSION, policy_ns, PLURAL, name)
        wait_for(
            lambda: (
                not [
                    o
                    for o in custom_objects.list_namespaced_custom_object(GROUP, VERSION, policy_ns, PLURAL)[
                        "items"
                    ]
                    if o["metadata"]["name"] == name
                ]
            ),
            timeout=60,
            what=f"{policy_ns}/{name} deleted",
        )
    finally:
        subprocess.run(
            ["podman", "stop", "--time", "15", f"rendered-pod-{suffix}"], capture_output=True, check=False
        )
        code = proc.wait(timeout=30)
        log = log_path.read_text(errors="replace")
        print(f"\n--- the rendered pod's log ---\n{log[-6000:]}")
        if peering:  # leave no peering record behind for later standalone operators of this session
            kube.kubectl("delete", "clusterkopfpeering.kopf.dev", peering, "--ignore-not-found", check=False)
        cluster_rbac = [o for o in rbac if o["kind"].startswith("Cluster")]
        kube.kubectl(
            "delete",
            "--ignore-not-found",
            "-f",
            "-",
            input_text=yaml.safe_dump_all(cluster_rbac),
            check=False,
        )
    assert code == 0, f"the operator exited with {code} on SIGTERM"
    for problem in ("Traceback", "Forbidden", "Read-only file system", "Permission denied"):
        assert problem not in log, f"{problem!r} in the operator's log"
