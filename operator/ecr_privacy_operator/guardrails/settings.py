"""Policy setting operations of the client (O10-O14), single and batched, with the valueSource fallback.

Create and update send ``value``; if the server answers "data validation failed" and the value is a string,
the write is repeated with ``valueSource`` (contract §2.5) and the result has ``value_source_used=True``.
Batched writes go in one document composed by ``batch.py``; each write gets its own result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import ClientBase, field_of
from .batch import BatchPart, compose_batch
from .errors import GuardrailsError, NotFoundError, ProtocolError, classify, is_value_validation_failure
from .filters import resource_settings_filter, setting_filter
from .models import Pack, PackInput, PolicySetting, SettingInput, SettingWrite

__all__ = ["BATCH_SIZE", "SettingOperations", "SettingWriteResult"]

BATCH_SIZE = 25
_TEMPLATES = {
    "create": "CreatePolicySetting",
    "update": "UpdatePolicySetting",
    "delete": "DeletePolicySetting",
}


@dataclass(frozen=True)
class SettingWriteResult:
    """Outcome of one batched write: the setting (``None`` after a delete) or the error it failed with.

    A delete of an already-gone setting succeeds with ``gone=True``."""

    write: SettingWrite
    setting: PolicySetting | None = None
    error: GuardrailsError | None = None
    gone: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _write_input(write: SettingWrite, setting: SettingInput | None) -> dict[str, Any]:
    if write.action == "create":
        if not write.resource or not write.type_uri or setting is None:
            raise ValueError("a create needs resource, type_uri and setting")
        return {"resource": write.resource, "type": write.type_uri, **setting.to_wire()}
    if not write.setting_id:
        raise ValueError(f"an {write.action} needs setting_id")
    if write.action == "update":
        if setting is None:
            raise ValueError("an update needs setting")
        return {"id": write.setting_id, **setting.to_wire()}
    return {"id": write.setting_id}


class SettingOperations(ClientBase):
    """Policy setting reads and writes; mixed into :class:`GuardrailsClient`."""

    async def _write_setting(self, name: str, base: dict[str, Any], setting: SettingInput) -> PolicySetting:
        try:
            data = await self._run(name, {"input": {**base, **setting.to_wire()}})
            used_source = False
        except GuardrailsError as exc:
            fallback = setting.as_value_source()
            if fallback is None or not is_value_validation_failure(exc):
                raise
            data = await self._run(name, {"input": {**base, **fallback.to_wire()}})
            used_source = True
        reply = self._required(name, data, "policySetting")
        return self._parse(name, lambda: PolicySetting.from_wire(reply, value_source_used=used_source))

    async def create_setting(self, resource: str, type_uri: str, setting: SettingInput) -> PolicySetting:
        """O11: create the setting of ``type_uri`` on ``resource`` (id or AKA). After a
        :class:`TransientError` re-read with :meth:`find_setting` before retrying; a duplicate raises
        :class:`ConflictError`."""
        return await self._write_setting(
            "CreatePolicySetting", {"resource": resource, "type": type_uri}, setting
        )

    async def update_setting(self, setting_id: str, setting: SettingInput) -> PolicySetting:
        """O13: update a setting's value/precedence/note/…; type and resource cannot change."""
        return await self._write_setting("UpdatePolicySetting", {"id": setting_id}, setting)

    async def delete_setting(self, setting_id: str) -> bool:
        """O14: delete a setting; ``False`` if it was already gone."""
        try:
            await self._run("DeletePolicySetting", {"input": {"id": setting_id}})
        except NotFoundError:
            return False
        return True

    async def read_setting(self, setting_id: str) -> PolicySetting | None:
        """O12: a setting by id; ``None`` if it does not exist."""
        try:
            data = await self._run("ReadPolicySetting", {"id": setting_id})
        except NotFoundError:
            return None
        reply = field_of(data, "policySetting")
        return (
            None
            if reply is None
            else self._parse("ReadPolicySetting", lambda: PolicySetting.from_wire(reply))
        )

    async def _list_settings(self, filters: list[str], paging: str | None = None) -> list[PolicySetting]:
        found: list[PolicySetting] = []
        while True:
            data = await self._run("ListPolicySettings", {"filter": filters, "paging": paging})
            page = self._required("ListPolicySettings", data, "policySettings")
            items = page.get("items") or []
            found += self._parse("ListPolicySettings", lambda: [PolicySetting.from_wire(i) for i in items])  # noqa: B023
            paging = (field_of(page, "paging") or {}).get("next")
            if not paging:
                return found

    async def list_settings(self, resource: str, *, paging: str | None = None) -> list[PolicySetting]:
        """O10: every setting placed directly on ``resource`` (e.g. a pack), following pages to the end."""
        return await self._list_settings(resource_settings_filter(resource), paging)

    async def find_setting(self, type_uri: str, resource: str) -> PolicySetting | None:
        """O10: the setting of ``type_uri`` placed directly on ``resource``; ``None`` if there is none."""
        found = await self._list_settings(setting_filter(type_uri, resource))
        return found[0] if found else None

    async def create_pack_with_settings(
        self, pack: PackInput, writes: Sequence[SettingWrite]
    ) -> tuple[Pack, list[SettingWriteResult]]:
        """Create a pack and the settings on it in ONE document (mutations run in order, so the settings'
        ``resource`` may be one of the new pack's AKAs); more than ``BATCH_SIZE`` settings, and string values
        retried as ``valueSource``, go in further batches with the new pack's id.

        A failure of the pack raises its classified error (a :class:`TransientError` of the whole document
        too: re-read by ownership AKA before retrying); setting failures come back per write."""
        operation = "CreatePolicyPack"
        head, rest = list(writes[:BATCH_SIZE]), list(writes[BATCH_SIZE:])
        pack_part = BatchPart("CreateSmartFolder", "pack", {"input": pack.model_dump(exclude_none=True)})
        parts = self._setting_parts(head, [w.setting for w in head])
        batch = compose_batch(operation, [pack_part, *parts])
        reply = await self._transport.execute(
            batch.text, batch.name, batch.variables, mutation=True, allow_partial=True
        )
        errors = [e for e in reply.errors if (e.get("path") or [None])[0] == pack_part.alias]
        if errors:
            raise classify(operation=operation, status=reply.status, errors=errors)
        node = self._required(operation, reply.data, pack_part.alias)
        created = self._parse(operation, lambda: Pack.from_wire(node))
        first = [
            self._batch_result(operation, w, p.alias, reply.data, reply.errors, reply.status, False)
            for w, p in zip(head, parts, strict=True)
        ]
        await self._retry_as_value_source(first)
        later = [w.model_copy(update={"resource": created.id}) for w in rest]
        return created, first + (await self.write_settings(later) if later else [])

    async def write_settings(self, writes: Sequence[SettingWrite]) -> list[SettingWriteResult]:
        """Run independent creates/updates/deletes in as few round trips as possible (one per ``BATCH_SIZE``).

        Results come back in input order, each with its setting or its classified error. Rejected string
        values are retried once as ``valueSource`` in a second batch. A :class:`TransientError` of the whole
        batch is raised: the caller re-reads (observe) before writing again."""
        results: list[SettingWriteResult] = []
        for start in range(0, len(writes), BATCH_SIZE):
            chunk = list(writes[start : start + BATCH_SIZE])
            first = await self._batch(chunk, [w.setting for w in chunk], used_source=False)
            await self._retry_as_value_source(first)
            results += first
        return results

    async def _retry_as_value_source(self, first: list[SettingWriteResult]) -> None:
        """Repeat, in one more batch, the writes whose string value was rejected, as ``valueSource``."""
        retry: list[int] = []
        fallbacks: list[SettingInput | None] = []
        for i, result in enumerate(first):
            fallback = result.write.setting.as_value_source() if result.write.setting else None
            if result.error and fallback and is_value_validation_failure(result.error):
                retry.append(i)
                fallbacks.append(fallback)
        if retry:
            writes = [first[i].write for i in retry]
            second = await self._batch(writes, fallbacks, used_source=True)
            for i, result in zip(retry, second, strict=True):
                first[i] = result

    @staticmethod
    def _setting_parts(
        writes: list[SettingWrite], settings: Sequence[SettingInput | None]
    ) -> list[BatchPart]:
        return [
            BatchPart(_TEMPLATES[w.action], f"s{i}", {"input": _write_input(w, s)})
            for i, (w, s) in enumerate(zip(writes, settings, strict=True))
        ]

    async def _batch(
        self, writes: list[SettingWrite], settings: Sequence[SettingInput | None], *, used_source: bool
    ) -> list[SettingWriteResult]:
        parts = self._setting_parts(writes, settings)
        batch = compose_batch("WritePolicySettings", parts)
        reply = await self._transport.execute(
            batch.text, batch.name, batch.variables, mutation=True, allow_partial=True
        )
        return [
            self._batch_result(batch.name, w, p.alias, reply.data, reply.errors, reply.status, used_source)
            for w, p in zip(writes, parts, strict=True)
        ]

    def _batch_result(
        self,
        operation: str,
        write: SettingWrite,
        alias: str,
        data: Mapping[str, Any],
        errors: list[dict[str, Any]],
        status: int,
        used_source: bool,
    ) -> SettingWriteResult:
        mine = [e for e in errors if (e.get("path") or [None])[0] == alias]
        if mine:
            error = classify(operation=operation, status=status, errors=mine)
            if write.action == "delete" and isinstance(error, NotFoundError):
                return SettingWriteResult(write, gone=True)
            return SettingWriteResult(write, error=error)
        reply = field_of(data, alias)
        if reply is None:
            return SettingWriteResult(
                write, error=ProtocolError(f"no result for {alias}", operation=operation)
            )
        if write.action == "delete":
            return SettingWriteResult(write)
        setting = self._parse(
            operation, lambda: PolicySetting.from_wire(reply, value_source_used=used_source)
        )
        return SettingWriteResult(write, setting=setting)
