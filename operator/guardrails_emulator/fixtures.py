"""Seed types (contract §4.1), the default resource tree (§4.2) and building a workspace from a fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .clock import Clock, iso
from .model import (
    C_APPROVED,
    P_APPROVED,
    P_ECR_ENABLED,
    P_USAGE,
    P_WORKSPACE_VERSION,
    ROOT_AKA,
    SHORT_TYPES,
    T_ACCOUNT,
    T_FOLDER,
    T_PACK,
    T_REGION,
    T_REPO,
    T_ROOT,
    ControlType,
    PolicyType,
    Resource,
    ResourceType,
)
from .workspace import Workspace

DEFAULT_FIXTURE: dict[str, Any] = {
    "resources": [
        {
            "type": "folder",
            "title": "Sandbox",
            "akas": ["sandbox"],
            "children": [
                {
                    "type": "account",
                    "accountId": "123456789012",
                    "children": [
                        {
                            "type": "region",
                            "name": "us-east-1",
                            "children": [
                                {"type": "publicRepository", "name": "web", "createdAt": "-10m"},
                                {"type": "publicRepository", "name": "legacy", "createdAt": "-2d"},
                                {"type": "publicRepository", "name": "edge", "createdAt": "-59m"},
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}

_RESOURCE_TYPES = [
    (T_ROOT, "Turbot"),
    (T_FOLDER, "Folder"),
    (T_PACK, "Policy Pack"),
    (T_ACCOUNT, "AWS Account"),
    (T_REGION, "AWS Region"),
    (T_REPO, "AWS ECR Public Repository"),
]


def _enum(values: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": values}


def _seed_policy_types() -> list[dict[str, Any]]:
    return [
        {
            "uri": P_APPROVED,
            "title": "Approved",
            "trunkTitle": "AWS > ECR > Public Repository > Approved",
            "schema": _enum(["Skip", "Check: Approved", "Enforce: Delete unapproved if new"]),
            "default": "Skip",
            "targets": [T_REPO],
        },
        {
            "uri": P_USAGE,
            "title": "Usage",
            "trunkTitle": "AWS > ECR > Public Repository > Approved > Usage",
            "parent": P_APPROVED,
            "schema": _enum(["Not approved", "Approved", "Approved if AWS > ECR > Enabled"]),
            "default": "Approved if AWS > ECR > Enabled",
            "targets": [T_REPO],
        },
        {
            "uri": P_ECR_ENABLED,
            "title": "Enabled",
            "trunkTitle": "AWS > ECR > Enabled",
            "schema": _enum(["Enabled", "Enabled: Metadata Only", "Disabled"]),
            "default": "Enabled",
            "targets": [T_ACCOUNT],
            "alwaysMaterialized": True,
        },
        {
            "uri": P_WORKSPACE_VERSION,
            "title": "Workspace Version",
            "trunkTitle": "Turbot > Workspace > Version",
            "schema": {"type": "string"},
            "default": "5.52.3",
            "targets": [T_ROOT],
            "alwaysMaterialized": True,
        },
    ]


def _mod_of(uri: str) -> str:
    return uri.split("#", 1)[0]


def register_policy_type(ws: Workspace, spec: dict[str, Any]) -> PolicyType:
    targets = [SHORT_TYPES.get(t, t) for t in spec.get("targets", [])]
    ptype = PolicyType(
        id=ws.new_id(),
        uri=spec["uri"],
        title=spec.get("title", spec["uri"].rsplit("/", 1)[-1]),
        trunk_title=spec.get("trunkTitle", spec.get("title", "")),
        mod_uri=spec.get("modUri", _mod_of(spec["uri"])),
        parent_uri=spec.get("parent"),
        schema=spec.get("schema", {}),
        default=spec.get("default"),
        targets=targets,
        always_materialized=bool(spec.get("alwaysMaterialized", False)),
    )
    ws.register_type(ptype)
    return ptype


def _account_of(ws: Workspace, parent: Resource | None) -> str:
    while parent is not None:
        if parent.type_uri == T_ACCOUNT:
            return str(parent.data.get("accountId", parent.title))
        parent = ws.resources.get(parent.parent_id) if parent.parent_id else None
    return "000000000000"


def _region_of(parent: Resource | None) -> str:
    return str(parent.data.get("regionName", parent.title)) if parent and parent.type_uri == T_REGION else ""


def create_resource(ws: Workspace, spec: dict[str, Any], parent: Resource | None) -> Resource:
    """Create one resource from a fixture node (``type``, ``name``, ``akas``, ``data``, ``createdAt``...)."""
    type_uri = SHORT_TYPES.get(str(spec.get("type", "folder")), str(spec.get("type")))
    if type_uri not in ws.resource_types:
        raise ValueError(f"unknown resource type {spec.get('type')!r}")
    created = ws.clock.resolve(str(spec["createdAt"])) if spec.get("createdAt") else ws.clock.now()
    name = str(spec.get("name") or spec.get("title") or spec.get("accountId") or "")
    data: dict[str, Any] = dict(spec.get("data") or {})
    akas: list[str] = list(spec.get("akas") or [])
    if type_uri == T_ACCOUNT:
        name = str(spec.get("accountId") or name)
        data.setdefault("accountId", name)
        akas = akas or [f"arn:aws:::{name}"]
    elif type_uri == T_REGION:
        data.setdefault("regionName", name)
        akas = akas or [f"arn:aws::{name}:{_account_of(ws, parent)}"]
    elif type_uri == T_REPO:
        account = _account_of(ws, parent)
        arn = f"arn:aws:ecr-public::{account}:repository/{name}"
        data.setdefault("repositoryName", name)
        data.setdefault("repositoryArn", arn)
        data.setdefault("registryId", account)
        data.setdefault("createdAt", iso(created))
        data.setdefault("region", _region_of(parent))
        akas = akas or [arn]
    if type_uri == T_PACK:
        data.setdefault("title", name)
    for aka in akas:
        if ws.aka_owner(aka) is not None:
            raise ValueError(f"AKA {aka!r} already in use")
    rid = str(spec["id"]) if spec.get("id") else ws.new_id()
    res = Resource(
        id=rid,
        type_uri=type_uri,
        parent_id=parent.id if parent else None,
        akas=akas or None,
        title=str(spec.get("title") or name),
        data=data,
        tags=spec.get("tags"),
        create_ts=iso(created),
        update_ts=iso(created),
        version_id=ws.new_id(),
    )
    ws.add_resource(res)
    for child in spec.get("children") or []:
        create_resource(ws, child, res)
    return res


def build_workspace(
    fixture: dict[str, Any] | None, clock: Clock | None = None, workspace_version: str = "5.52.3"
) -> Workspace:
    """A fresh workspace: seed types, the root, then the fixture's tree (the default tree when ``None``)."""
    fixture = DEFAULT_FIXTURE if fixture is None else fixture
    clock = clock or Clock()
    if fixture.get("now"):
        clock.set(clock.resolve(str(fixture["now"])))
    ws = Workspace(clock, str(fixture.get("workspaceVersion", workspace_version)))
    for uri, title in _RESOURCE_TYPES:
        ws.register_type(ResourceType(ws.new_id(), uri, title, _mod_of(uri)))
    root = create_resource(
        ws, {"type": "turbot", "title": "Turbot", "akas": [ROOT_AKA], "createdAt": "-30d"}, None
    )
    ws.root_id = root.id
    for spec in [*_seed_policy_types(), *(fixture.get("policyTypes") or [])]:
        register_policy_type(ws, spec)
    ws.policy_types[P_WORKSPACE_VERSION].default = ws.workspace_version
    ws.register_type(
        ControlType(
            id=ws.new_id(),
            uri=C_APPROVED,
            title="Approved",
            trunk_title="AWS > ECR > Public Repository > Approved",
            mod_uri="tmod:@turbot/aws-ecr",
            primary_policy_uri=P_APPROVED,
            target_type_uri=T_REPO,
            usage_policy_uri=P_USAGE,
            enabled_policy_uri=P_ECR_ENABLED,
        )
    )
    for spec in fixture.get("resources") or []:
        create_resource(ws, spec, root)
    return ws


def load_fixture_file(path: Path) -> dict[str, Any]:
    """Read a fixture document (YAML or JSON) from ``path``."""
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"fixture {path} must be a mapping")
    return doc
