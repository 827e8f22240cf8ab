"""The Argo CD health checks (deploy/gitops/argocd/*.lua, shipped in argocd-cm-patch.yaml) run as Argo CD runs
them: a Lua 5.1 interpreter (lupa; Argo CD's gopher-lua implements Lua 5.1) with exactly the libraries Argo CD
opens for a health script, over every status sample (deploy/gitops/testdata/status-samples.yaml) and every kind
the project ships.

What Argo CD opens (util/lua/lua.go and gopher-lua v1.1.2, which Argo CD v3.5.1 uses): the state is created with
``SkipOpenLibs: !useOpenLibs``; then, in both cases, Argo CD opens ``package``, the base library, ``table`` and
its own ``os`` holding only ``time`` and ``date``. So without ``resource.customizations.useOpenLibs.<group>_<kind>``
a script has the base functions (``pairs``, ``ipairs``, ``tostring``, ``tonumber``, ``type``, ``pcall``, ...),
``table`` and ``os.time``/``os.date``, and nothing else: no ``string`` (not even ``("x"):upper()``, the string
metatable comes with it), no ``math``. With useOpenLibs gopher-lua first opens all its libraries (``io``,
``os``, ``string``, ``math``, ``debug``, ``coroutine``, ``channel``); Argo CD's safe ``os`` then finds ``os``
already loaded and leaves the full one in place. A script that fails makes Argo CD report Unknown.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.fixtures.gitops import GITOPS, Kind, Sample, kinds, samples

lua51 = pytest.importorskip("lupa.lua51", reason="the test extra installs lupa")

pytestmark = pytest.mark.unit

ARGOCD = GITOPS / "argocd"
PATCH = ARGOCD / "argocd-cm-patch.yaml"
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# gopher-lua's base library (OpenBase: baseFuncs, ipairs, pairs, _G, _VERSION), as far as Lua 5.1 has each.
BASE = [
    "assert",
    "collectgarbage",
    "dofile",
    "error",
    "getfenv",
    "getmetatable",
    "load",
    "loadfile",
    "loadstring",
    "next",
    "pcall",
    "print",
    "rawequal",
    "rawget",
    "rawset",
    "select",
    "setfenv",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
    "module",
    "require",
    "newproxy",
    "ipairs",
    "pairs",
]
TABLE = ["getn", "concat", "insert", "maxn", "remove", "sort"]  # gopher-lua's table library

# Runs the script in an environment holding exactly what Argo CD opens; returns ok, status, message.
HARNESS = """
local script, obj, open_libs, base, table_funcs = ...
local env = {}
for _, name in ipairs(base) do env[name] = _G[name] end
env._G = env
env._VERSION = _VERSION
env.package = package
env.table = {}
for _, name in ipairs(table_funcs) do env.table[name] = table[name] end
env.os = {time = os.time, date = os.date}
if open_libs then
  env.io, env.os, env.string, env.math, env.debug, env.coroutine = io, os, string, math, debug, coroutine
else
  getmetatable("").__index = nil
end
env.obj = obj
local chunk, err = loadstring(script, "=health.lua")
if chunk == nil then return false, err end
setfenv(chunk, env)
local ok, hs = pcall(chunk)
if not ok then return false, tostring(hs) end
if type(hs) ~= "table" then return false, "expect table output from Lua script, not " .. type(hs) end
return true, hs.status, hs.message
"""


def run(script: str, obj: dict[str, Any], *, open_libs: bool) -> tuple[str, str]:
    """(status, message) as Argo CD reports them: Unknown with the error when the script fails."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    harness = lua.eval("function(...) " + HARNESS + " end")
    result = harness(
        script,
        lua.table_from(obj, recursive=True),
        open_libs,
        lua.table_from(BASE),
        lua.table_from(TABLE),
    )
    if not result[0]:
        return "Unknown", str(result[1])
    status, message = str(result[1]), "" if result[2] is None else str(result[2])
    if status not in HEALTH_STATUSES:
        return "Unknown", "Lua returned an invalid health status"
    return status, message


def patch_data() -> dict[str, str]:
    data: dict[str, str] = yaml.safe_load(PATCH.read_text())["data"]
    return data


def script_for(kind: Kind) -> tuple[str, bool]:
    """The health script argocd-cm-patch.yaml ships for a kind, and whether it sets useOpenLibs for it."""
    data = patch_data()
    key = f"{kind.group}_{kind.kind}"
    assert f"resource.customizations.health.{key}" in data, (
        f"argocd-cm-patch.yaml has no health check for {key}"
    )
    return data[f"resource.customizations.health.{key}"], str(
        data.get(f"resource.customizations.useOpenLibs.{key}", "false")
    ).lower() == "true"


SAMPLES = samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_health_as_argocd_computes_it(sample: Sample) -> None:
    script, open_libs = script_for(sample.kind)
    status, message = run(script, sample.obj, open_libs=open_libs)
    assert status == sample.expect["argocd"], f"{sample.id}: {status} ({message})"
    if sample.argocd_message is not None:
        assert message == sample.argocd_message


@pytest.mark.parametrize("open_libs", [False, True], ids=["restricted", "useOpenLibs"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_health_needs_no_optional_library(sample: Sample, open_libs: bool) -> None:
    """The same health whether or not an admin sets useOpenLibs for the kind (a locked-down Argo CD may not)."""
    script, _ = script_for(sample.kind)
    assert run(script, sample.obj, open_libs=open_libs)[0] == sample.expect["argocd"]


def test_the_harness_opens_what_argocd_opens() -> None:
    probe = (
        "return {status = 'Healthy', message = table.concat({type(string), type(math), type(io), type(debug),"
        " type(os.time), type(os.exit), type(pairs), type(tostring), type(table.insert)}, ' ')}"
    )
    assert run(probe, {}, open_libs=False)[1] == "nil nil nil nil function nil function function function"
    assert run(probe, {}, open_libs=True)[1] == (
        "table table table table function function function function function"
    )
    assert run("local s = ('x'):upper() return {status = 'Healthy'}", {}, open_libs=False)[0] == "Unknown"


def test_every_kind_is_covered() -> None:
    shipped = {k.kind for k in kinds()}
    assert {"EcrPrivacyPolicy", "GuardrailsWorkspace", "ClusterGuardrailsWorkspace"} <= shipped
    assert {s.kind.kind for s in SAMPLES} == shipped


def test_patch_embeds_the_script_verbatim() -> None:
    script = (ARGOCD / "health.lua").read_text()
    for kind in kinds():
        assert script_for(kind)[0] == script


# ---- the app-of-apps: the Application health check and the sync waves -----------------------------------
def application_health(status: dict[str, Any] | None, *, open_libs: bool) -> tuple[str, str]:
    app: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
    }
    if status is not None:
        app["status"] = status
    return run(
        patch_data()["resource.customizations.health.argoproj.io_Application"], app, open_libs=open_libs
    )


@pytest.mark.parametrize("open_libs", [False, True], ids=["restricted", "useOpenLibs"])
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ("Progressing", "")),
        ({}, ("Progressing", "")),
        ({"sync": {"status": "Synced"}}, ("Progressing", "")),
        ({"health": {"status": "Healthy"}}, ("Healthy", "")),
        ({"health": {"status": "Degraded", "message": "Deployment has not progressed"}},
         ("Degraded", "Deployment has not progressed")),
        ({"health": {"status": "Missing"}}, ("Missing", "")),
    ],
)  # fmt: skip
def test_application_health_is_the_childs_own(
    status: dict[str, Any] | None, expected: tuple[str, str], open_libs: bool
) -> None:
    assert application_health(status, open_libs=open_libs) == expected
    assert (
        patch_data()["resource.customizations.health.argoproj.io_Application"]
        == (ARGOCD / "application-health.lua").read_text()
    )


def test_app_of_apps_orders_the_operator_before_the_policies() -> None:
    parent = yaml.safe_load((ARGOCD / "app-of-apps.yaml").read_text())
    assert parent["spec"]["source"]["path"] == "deploy/gitops/argocd"
    assert parent["spec"]["source"]["directory"]["include"] == "application.yaml"
    children = {
        a["metadata"]["name"]: a for a in yaml.safe_load_all((ARGOCD / "application.yaml").read_text())
    }
    wave = {
        name: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for name, a in children.items()
    }
    assert wave["ecr-privacy-operator"] < wave["ecr-privacy-policies"]
    assert children["ecr-privacy-operator"]["spec"]["source"]["path"] == "deploy/helm/ecr-privacy-operator"
    assert "resource.customizations.health.argoproj.io_Application" in patch_data(), (
        "without the Application health check the parent does not wait for wave 0 to be Healthy"
    )


def test_patch_is_a_configmap_with_string_values() -> None:
    patch = yaml.safe_load(PATCH.read_text())
    assert (patch["apiVersion"], patch["kind"], patch["metadata"]) == (
        "v1",
        "ConfigMap",
        {"name": "argocd-cm", "namespace": "argocd"},
    )
    assert all(isinstance(v, str) for v in patch["data"].values()), "ConfigMap data values must be strings"
