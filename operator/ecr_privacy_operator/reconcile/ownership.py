"""Who owns a policy pack: the ownership AKA that names an owner object and its cluster, read back from a pack.

A pack the operator made carries one ownership AKA,
``ecrprivacy.dev/owner/<cluster id>/<namespace>/<name>/<uid>``: the cluster (``ECR_PRIVACY_CLUSTER_ID``, by
default the UID of the cluster's ``kube-system`` namespace), the object's namespace and name, and its UID.
Packs made before the cluster was part of it carry ``ecrprivacy.dev/owner/<uid>`` (the *legacy* form): their
owner still finds them by it and rewrites it to the current form.

The rules for taking over a pack another owner holds live in the planner (``plan._identify``); whether an
owner object still exists is a Kubernetes question, asked through the ``OwnerExists`` callable the handlers
inject (``Claim``), so nothing here imports Kubernetes code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ecr_privacy_operator.crd.spec import KIND, OWNERSHIP_AKA_PREFIX
from ecr_privacy_operator.reconcile.frozen import FrozenModel


class Owner(FrozenModel):
    """An owner object as an ownership AKA names it. ``cluster``, ``namespace`` and ``name`` are None for the
    legacy form, which names only the UID."""

    uid: str
    cluster: str | None = None
    namespace: str | None = None
    name: str | None = None

    @property
    def legacy(self) -> bool:
        """True for the old form of the AKA (no cluster, namespace or name)."""
        return self.cluster is None

    @property
    def aka(self) -> str:
        """The ownership AKA of this owner (the legacy form when it has no cluster)."""
        if self.cluster is None:
            return self.legacy_aka
        return f"{OWNERSHIP_AKA_PREFIX}{self.cluster}/{self.namespace}/{self.name}/{self.uid}"

    @property
    def legacy_aka(self) -> str:
        """The ownership AKA that earlier versions gave this owner's pack."""
        return f"{OWNERSHIP_AKA_PREFIX}{self.uid}"

    def describe(self, our_cluster: str) -> str:
        """The owner in words, for condition messages."""
        if self.cluster is None:
            return (
                f"the object with UID {self.uid} (an ownership AKA of the old form, which names no cluster)"
            )
        where = "in this cluster" if self.cluster == our_cluster else f"in another cluster ({self.cluster})"
        return f"{KIND} {self.namespace}/{self.name} (UID {self.uid}) {where}"

    @classmethod
    def parse(cls, aka: str) -> Owner | None:
        """The owner an AKA names, or None when it is not an ownership AKA."""
        if not aka.startswith(OWNERSHIP_AKA_PREFIX):
            return None
        parts = aka.removeprefix(OWNERSHIP_AKA_PREFIX).split("/")
        if len(parts) == 1 and parts[0]:
            return cls(uid=parts[0])
        if len(parts) == 4 and all(parts):
            cluster, namespace, name, uid = parts
            return cls(uid=uid, cluster=cluster, namespace=namespace, name=name)
        return None

    @classmethod
    def holding(cls, akas: Sequence[str]) -> Owner | None:
        """The owner named by the first ownership AKA among a pack's AKAs, or None."""
        return next(filter(None, map(cls.parse, akas)), None)

    def names_me(self, aka: str) -> bool:
        """True when ``aka`` is an ownership AKA of this very object (same UID), in any form or cluster: UIDs
        are unique, so a pack named so is this object's own even if the cluster id or the format changed."""
        found = Owner.parse(aka)
        return found is not None and found.uid == self.uid


OwnerExists = Callable[[Owner], Awaitable[bool]]
"""Whether an owner object of this cluster (namespace, name and UID) still exists. It may raise when the
Kubernetes API cannot answer; the pass then fails and is retried."""


@dataclass(frozen=True)
class Claim:
    """One object's claim on its pack for one pass: who it is, and how to ask whether a rival owner in the same
    cluster still exists (asked only when the object may adopt)."""

    owner: Owner
    owner_exists: OwnerExists


@dataclass(frozen=True)
class Ownership:
    """The operator's cluster identity (read once at start-up) and its owner lookup: makes each pass's Claim."""

    cluster_id: str
    owner_exists: OwnerExists

    def __post_init__(self) -> None:
        if not valid_cluster_id(self.cluster_id):
            raise ValueError(f"invalid cluster id {self.cluster_id!r}: {CLUSTER_ID_RULE}")

    def claim(self, uid: str, namespace: str, name: str) -> Claim:
        """The claim of the object with this UID, namespace and name."""
        if not uid:
            raise ValueError("the object has no metadata.uid")
        owner = Owner(uid=uid, cluster=self.cluster_id, namespace=namespace, name=name)
        return Claim(owner=owner, owner_exists=self.owner_exists)


CLUSTER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
CLUSTER_ID_RULE = "1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"


def valid_cluster_id(text: str) -> bool:
    """True when ``text`` can stand as the cluster part of an ownership AKA (no '/', never empty)."""
    return re.fullmatch(CLUSTER_ID_PATTERN, text) is not None
