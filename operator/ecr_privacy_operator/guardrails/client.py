"""The async Guardrails API client: one method per operation the operator needs (contract O1-O16).

Methods take ids or AKAs as strings and return the frozen models of ``models.py``. "Absent" is a normal answer
(``None`` or ``False``) where the issue asks for it; every other failure raises a class of ``errors.py``.
Transport, retries and hooks live in ``transport.py``; setting operations (single and batched) in
``settings.py``; activity feed reads in ``feed.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import field_of
from .errors import (
    AttachmentNotVerifiedError,
    ConfigurationError,
    GuardrailsError,
    NotFoundError,
    PolicyTypeNotFoundError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)
from .feed import FeedOperations
from .filters import control_summary_filter, policy_types_filter
from .models import (
    PACK_TYPE_URI,
    ControlSummary,
    ObserveResult,
    Pack,
    PackInput,
    PolicyType,
    PolicyValue,
    ResourceInfo,
    ResourceRef,
    TargetAttachments,
)
from .observe import observe_variables, pack_settings_next_page, parse_observe
from .repositories import RepositoryOperations
from .settings import SettingOperations

__all__ = ["GuardrailsClient"]

_VERIFY_DELAYS = (0.25, 0.5, 1.0, 2.0)


class GuardrailsClient(SettingOperations, FeedOperations, RepositoryOperations):
    """Async client for one Guardrails workspace. Use as ``async with GuardrailsClient(creds) as client:``.

    Constructor arguments: see :class:`ClientBase`. Setting operations come from :class:`SettingOperations`,
    activity feed reads from :class:`FeedOperations`.
    """

    # -- connection -----------------------------------------------------------------------------------------

    async def validate_credentials(self) -> None:
        """O1 probe. Raises :class:`UnauthorizedError` unless the workspace accepts the key pair.

        Network trouble stays :class:`TransientError`; TLS or configuration trouble
        :class:`ConfigurationError`."""
        operation = "ValidateCredentials"
        try:
            data = await self._run(operation)
        except (TransientError, ConfigurationError):
            raise
        except GuardrailsError as exc:
            raise UnauthorizedError(
                "authorisation failed: verify workspace, access key and secret key",
                operation=operation,
                status=exc.status,
                errors=exc.errors,
            ) from exc
        query_type = field_of(field_of(data, "schema") or {}, "queryType") or {}
        if query_type.get("name") != "Query":
            raise UnauthorizedError("authorisation failed: unexpected probe reply", operation=operation)

    async def health(self) -> bool:
        """True if the workspace health endpoint answers HTTP 200."""
        return await self._transport.health() == 200

    # -- packs (O2-O6) --------------------------------------------------------------------------------------

    async def create_pack(self, pack: PackInput) -> Pack:
        """O2: create a pack. After a :class:`TransientError` re-read with :meth:`find_pack` before
        retrying."""
        data = await self._run("CreateSmartFolder", {"input": pack.model_dump(exclude_none=True)})
        node = self._required("CreateSmartFolder", data, "smartFolder")
        return self._parse("CreateSmartFolder", lambda: Pack.from_wire(node))

    async def read_pack(self, ref: str) -> Pack | None:
        """O3: a pack by id or AKA with title, description, filters, tags; ``None`` if absent.

        Raises :class:`ValidationError` if ``ref`` names a resource that is not a pack.
        """
        data = await self._run("ReadSmartFolder", {"id": ref})
        node = field_of(data, "smartFolder")
        if node is None:
            return None
        type_uri = (field_of(node, "type") or {}).get("uri")
        if type_uri not in (None, PACK_TYPE_URI):
            raise ValidationError(
                f"resource {ref!r} is a {type_uri}, not a policy pack", operation="ReadSmartFolder"
            )
        return self._parse("ReadSmartFolder", lambda: Pack.from_wire(node))

    async def update_pack(self, pack_id: str, **changes: Any) -> Pack:
        """O4: change ``title``, ``description``, ``akas``, ``filter``, ``tags`` or ``color`` (replaced,
        not merged).

        ``None`` values are not sent. The parent cannot change."""
        allowed = {"title", "description", "akas", "filter", "tags", "color"}
        if not set(changes) <= allowed:
            raise TypeError(f"update_pack() got unexpected fields {sorted(set(changes) - allowed)}")
        payload = {"id": pack_id, **{k: v for k, v in changes.items() if v is not None}}
        data = await self._run("UpdateSmartFolder", {"input": payload})
        node = self._required("UpdateSmartFolder", data, "smartFolder")
        return self._parse("UpdateSmartFolder", lambda: Pack.from_wire(node))

    async def delete_pack(self, pack_id: str) -> bool:
        """O5: delete a pack (and its settings). ``False`` if already gone; :class:`ConflictError` if
        attached."""
        try:
            await self._run("DeleteSmartFolder", {"id": pack_id})
        except NotFoundError:
            return False
        return True

    async def find_pack(self, ref: str) -> ResourceRef | None:
        """O6: a pack's id and AKAs by id or AKA (e.g. the ownership AKA); ``None`` if there is no such
        pack."""
        try:
            data = await self._run("ReadPolicyPackIdentity", {"id": ref})
        except NotFoundError:
            return None
        node = field_of(data, "policyPack")
        return (
            None
            if node is None
            else self._parse("ReadPolicyPackIdentity", lambda: ResourceRef.from_wire(node))
        )

    async def read_resource(self, ref: str) -> ResourceInfo | None:
        """O3: any resource by id or AKA; ``None`` if it does not exist."""
        data = await self._run("ReadResource", {"id": ref})
        node = field_of(data, "resource")
        return None if node is None else self._parse("ReadResource", lambda: ResourceInfo.from_wire(node))

    # -- attachments (O7, O8) -------------------------------------------------------------------------------

    async def read_attachments(self, target: str) -> TargetAttachments | None:
        """O8: ``target``'s id and the packs attached directly to it, in order; ``None`` if it is gone."""
        data = await self._run("ReadAttachedPolicyPacks", {"id": target})
        node = field_of(data, "resource")
        return (
            None
            if node is None
            else self._parse("ReadAttachedPolicyPacks", lambda: TargetAttachments.from_wire(node))
        )

    async def list_attached_packs(self, target: str) -> list[ResourceRef] | None:
        """O8: packs attached directly to ``target``, in attachment order; ``None`` if the target is gone."""
        found = await self.read_attachments(target)
        return None if found is None else found.packs

    @staticmethod
    def _pack_ids(pack_ids: Sequence[str]) -> list[str]:
        ids = list(pack_ids)
        if not ids or not all(i.isdigit() for i in ids):
            raise ValueError("attach/detach take numeric pack ids (resolve AKAs with find_pack first)")
        return ids

    async def attach_packs(self, target: str, pack_ids: Sequence[str]) -> None:
        """O7: append packs (numeric ids) to ``target``'s list; already attached ones keep their place.

        The reply proves nothing: verify with :meth:`list_attached_packs` or use :meth:`attach_and_verify`.
        """
        await self._run(
            "AttachSmartFolders", {"input": {"resource": target, "smartFolders": self._pack_ids(pack_ids)}}
        )

    async def detach_packs(self, target: str, pack_ids: Sequence[str]) -> None:
        """O7: remove packs (numeric ids) from ``target``'s list; absent ones are ignored by the server."""
        await self._run(
            "DetachSmartFolders", {"input": {"resource": target, "smartFolders": self._pack_ids(pack_ids)}}
        )

    async def attach_and_verify(self, target: str, pack_ids: Sequence[str]) -> TargetAttachments:
        """Attach, then poll O8 (0.25 s, 0.5 s, 1 s, 2 s) until every pack shows; return the target's id and
        attached list as read back.

        Raises :class:`NotFoundError` if the target is gone and :class:`AttachmentNotVerifiedError` if the
        read-back never confirms. Callers serialise writes per target (read-modify-write on the server).
        """
        await self.attach_packs(target, pack_ids)
        found = await self._verify(target, set(self._pack_ids(pack_ids)), attached=True)
        assert found is not None  # _verify raises NotFoundError for a vanished target when attaching
        return found

    async def detach_and_verify(self, target: str, pack_ids: Sequence[str]) -> list[ResourceRef]:
        """Detach, then poll O8 until none of the packs shows; a vanished target counts as detached."""
        await self.detach_packs(target, pack_ids)
        found = await self._verify(target, set(self._pack_ids(pack_ids)), attached=False)
        return [] if found is None else found.packs

    async def attach_verify_and_summarise(
        self, target: str, pack_ids: Sequence[str], control_type_uri: str, summary_targets: Sequence[str]
    ) -> tuple[TargetAttachments, list[ControlSummary]]:
        """Like :meth:`attach_and_verify`, but each read-back also returns the control summaries of
        ``control_type_uri`` under ``summary_targets`` (O16) in the same request: the compliance after a
        sync whose last write is this attach, without one more round trip."""
        await self.attach_packs(target, pack_ids)
        summaries: list[ControlSummary] = []

        async def read() -> TargetAttachments | None:
            nonlocal summaries
            current, summaries = await self._attachments_and_compliance(
                target, control_type_uri, summary_targets
            )
            return current

        attached = await self._verify(target, set(self._pack_ids(pack_ids)), attached=True, read=read)
        assert attached is not None  # _verify raises NotFoundError for a vanished target when attaching
        return attached, summaries

    async def _attachments_and_compliance(
        self, target: str, control_type_uri: str, summary_targets: Sequence[str]
    ) -> tuple[TargetAttachments | None, list[ControlSummary]]:
        operation = "ReadAttachmentsAndCompliance"
        has_summary = bool(summary_targets)
        data = await self._run(
            operation,
            {
                "id": target,
                "hasSummary": has_summary,
                "summaryFilter": control_summary_filter(control_type_uri, summary_targets)
                if has_summary
                else None,
            },
        )
        node = field_of(data, "resource")
        summary_items = (field_of(data, "summaries") or {}).get("items") or []
        current = None if node is None else self._parse(operation, lambda: TargetAttachments.from_wire(node))
        summaries = self._parse(operation, lambda: [ControlSummary.from_wire(i) for i in summary_items])
        return current, summaries

    async def _verify(
        self,
        target: str,
        wanted: set[str],
        *,
        attached: bool,
        read: Callable[[], Awaitable[TargetAttachments | None]] | None = None,
    ) -> TargetAttachments | None:
        """Poll until ``wanted`` are all attached (or all gone); ``None``: the target is gone (detach only)."""
        for delay in (*_VERIFY_DELAYS, None):
            current = await (read() if read is not None else self.read_attachments(target))
            if current is None:
                if attached:
                    raise NotFoundError(f"target {target!r} not found", operation="ReadAttachedPolicyPacks")
                return None
            present = wanted & {p.id for p in current.packs}
            if present == (wanted if attached else set()):
                return current
            if delay is not None:
                await self._transport.retry.sleep(delay)
        verb = "attached to" if attached else "detached from"
        raise AttachmentNotVerifiedError(
            f"the API reported success but packs {sorted(wanted)} are not {verb} {target!r}",
            operation="ReadAttachedPolicyPacks",
        )

    # -- policy types, values, controls (O9, O15, O16) -------------------------------------------------------

    async def get_policy_types(self, uris: Sequence[str]) -> dict[str, PolicyType]:
        """O9: the known policy types among ``uris``, keyed by URI; unknown ones are missing."""
        if not uris:
            return {}
        found: dict[str, PolicyType] = {}
        paging: str | None = None
        while True:
            data = await self._run("FindPolicyTypes", {"filter": policy_types_filter(uris), "paging": paging})
            page = self._required("FindPolicyTypes", data, "policyTypes")
            items = page.get("items") or []
            types = self._parse("FindPolicyTypes", lambda: [PolicyType.from_wire(i) for i in items])  # noqa: B023
            found.update({t.uri: t for t in types})
            paging = (field_of(page, "paging") or {}).get("next")
            if not paging:
                return found

    async def require_policy_types(self, uris: Sequence[str]) -> dict[str, PolicyType]:
        """Like :meth:`get_policy_types`, but raises :class:`PolicyTypeNotFoundError` naming the missing
        ones."""
        found = await self.get_policy_types(uris)
        missing = [u for u in uris if u not in found]
        if missing:
            raise PolicyTypeNotFoundError(missing, operation="FindPolicyTypes")
        return found

    async def read_policy_value(self, type_uri: str, resource: str) -> PolicyValue | None:
        """O15: the effective value of a policy type on a resource; ``None`` if no value exists there."""
        try:
            data = await self._run("ReadPolicyValue", {"uri": type_uri, "resourceId": resource})
        except NotFoundError:
            return None
        node = field_of(data, "policyValue")
        return None if node is None else self._parse("ReadPolicyValue", lambda: PolicyValue.from_wire(node))

    async def control_summaries(self, control_type_uri: str, targets: Sequence[str]) -> list[ControlSummary]:
        """O16: control state counts of one control type under each target (missing targets are left out)."""
        if not targets:
            return []
        data = await self._run(
            "ControlSummariesByResource", {"filter": control_summary_filter(control_type_uri, targets)}
        )
        items = (
            self._required("ControlSummariesByResource", data, "controlSummariesByResource").get("items")
            or []
        )
        return self._parse("ControlSummariesByResource", lambda: [ControlSummary.from_wire(i) for i in items])

    # -- the single-round-trip read --------------------------------------------------------------------------

    async def observe(
        self,
        pack_aka: str,
        *,
        targets: Sequence[str] = (),
        policy_type_uris: Sequence[str] = (),
        control_type_uri: str | None = None,
        claimed_akas: Sequence[str] = (),
    ) -> ObserveResult:
        """Read the pack (by ownership AKA), its settings and attachments, the targets with their attached
        packs, the policy types, the control summary under the targets and the resources holding any of
        ``claimed_akas`` (see :meth:`ObserveResult.claimed_pack`) in ONE round trip.

        Missing pack → ``pack=None``; missing targets and unknown policy types are simply absent (match
        targets with :meth:`ObserveResult.target`). Only a pack with more than 5000 settings costs extra
        requests."""
        operation = "ObservePolicy"
        variables = observe_variables(pack_aka, targets, policy_type_uris, control_type_uri, claimed_akas)
        data = await self._run(operation, variables)
        result = self._parse(operation, lambda: parse_observe(data))
        next_page = pack_settings_next_page(data)
        if result.pack is not None and next_page:
            more = await self.list_settings(pack_aka, paging=next_page)
            pack = result.pack.model_copy(update={"settings": [*result.pack.settings, *more]})
            result = result.model_copy(update={"pack": pack})
        return result
