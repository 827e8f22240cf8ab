"""Root query resolvers (``Query`` type): single-item lookups by id/AKA and the list roots."""

from __future__ import annotations

from typing import Any

from . import feed, listings
from .context import Context
from .errors import GuardrailsError, not_found
from .model import Resource
from .views import ResourceView, SettingView, ValueView, control_view, policy_type_dict, value_view
from .views import control_type_dict as _control_type_dict

Args = dict[str, Any]


def _return_null(args: Args) -> bool:
    options = args.get("options") or {}
    return bool(options.get("notFound") == "RETURN_NULL")


class QueryResolvers:
    ctx: Context

    def _missing(self, args: Args, what: str) -> None:
        if _return_null(args):
            return
        raise not_found(what)

    def _target(self, args: Args) -> Resource | None:
        return self.ctx.ws.lookup(args.get("resourceId") or args.get("resourceAka"))

    def f_resource(self, args: Args) -> Any:
        """By id or AKA; with no id (only a calculated setting's templateInput may omit it), the resource the
        setting is being calculated for."""
        ref = args.get("id")
        res = self.ctx.subject if ref is None else self.ctx.ws.lookup(ref)
        if res is None:
            return self._missing(args, "Resource")
        self.ctx.check_read(res)
        return ResourceView(self.ctx, res)

    def f_policy_pack(self, args: Args) -> Any:
        res = self.ctx.ws.lookup(args["id"])
        if res is None or not self.ctx.ws.is_pack(res):
            return self._missing(args, "Policy pack")
        return ResourceView(self.ctx, res)

    def f_policy_type(self, args: Args) -> Any:
        ptype = self.ctx.ws.policy_type(args.get("id") or args.get("uri"))
        return policy_type_dict(ptype) if ptype else self._missing(args, "Policy type")

    def f_control_type(self, args: Args) -> Any:
        ctype = self.ctx.ws.control_type(args.get("id") or args.get("uri"))
        return _control_type_dict(ctype) if ctype else self._missing(args, "Control type")

    def f_policy_setting(self, args: Args) -> Any:
        ws = self.ctx.ws
        setting = ws.settings.get(str(args["id"])) if args.get("id") else None
        if setting is None and args.get("uri"):
            ptype, res = ws.policy_type(args["uri"]), self._target(args)
            setting = ws.setting_on(ptype.uri, res.id) if ptype and res else None
        if setting is None:
            return self._missing(args, "Policy setting")
        res = ws.resources.get(setting.resource_id)
        if res is not None:
            self.ctx.check_read(res)
        return SettingView(self.ctx, setting)

    def f_policy_value(self, args: Args) -> Any:
        ws = self.ctx.ws
        type_ref: str | None = args.get("uri")
        res = self._target(args)
        if args.get("id"):
            key = ws.value_keys.get(str(args["id"]))
            type_ref, res = (key[0], ws.resources.get(key[1])) if key else (None, None)
        if res is None or ws.policy_type(type_ref) is None:
            return self._missing(args, "Policy value")
        try:
            view: ValueView = value_view(self.ctx, type_ref, res)
        except GuardrailsError:
            if _return_null(args):
                return None
            raise
        return view

    def f_control(self, args: Args) -> Any:
        ws = self.ctx.ws
        if args.get("id"):
            key = ws.control_ids.get(str(args["id"]))
            control = ws.controls.get(key) if key else None
            if control is None:
                return self._missing(args, "Control")
            self.ctx.check_read(ws.resources[control.resource_id])
            return listings.control_dict(self.ctx, control)
        res = self._target(args)
        if res is None:
            return self._missing(args, "Control")
        try:
            return control_view(self.ctx, args.get("uri"), res)
        except GuardrailsError:
            if _return_null(args):
                return None
            raise

    def f_resources(self, args: Args) -> Any:
        return listings.resources(self.ctx, args)

    f_resource_list = f_resources

    def f_policy_settings(self, args: Args) -> Any:
        return listings.policy_settings(self.ctx, args)

    f_policy_setting_list = f_policy_settings

    def f_policy_types(self, args: Args) -> Any:
        return listings.policy_types(self.ctx, args)

    def f_policy_values(self, args: Args) -> Any:
        return listings.policy_values(self.ctx, args)

    def f_controls(self, args: Args) -> Any:
        return listings.controls(self.ctx, args)

    def f_control_summaries_by_control_type(self, args: Args) -> Any:
        return listings.summaries_by_control_type(self.ctx, args)

    def f_control_summaries_by_resource(self, args: Args) -> Any:
        return listings.summaries_by_resource(self.ctx, args)

    def f_notifications(self, args: Args) -> Any:
        return feed.notifications(self.ctx, args)
