"""The emulator's cost per activity-feed poll, against the size of its activity log (in process, no HTTP).

For each log size it fills a workspace with that many activities (N packs with two settings each, the rest
setting updates), then times the ``notifications`` resolver for the operator's views (``policy_feed`` over
all N packs): a poll since a watermark that holds the last 10 activities, and a read of the whole log. The
GraphQL execution and HTTP on top of it are the same for every query and not measured here.

    .venv/bin/python hack/feed_bench.py [--sizes 1000,10000,50000] [--packs 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "operator")]

from ecr_privacy_operator.guardrails import policy_feed  # noqa: E402
from guardrails_emulator import activities, feed  # noqa: E402
from guardrails_emulator.context import Context  # noqa: E402
from guardrails_emulator.faults import Faults  # noqa: E402
from guardrails_emulator.fixtures import build_workspace  # noqa: E402
from guardrails_emulator.model import P_APPROVED, T_PACK, Resource, Setting  # noqa: E402
from guardrails_emulator.workspace import Workspace  # noqa: E402


def fill(ws: Workspace, size: int, packs: int) -> list[str]:
    """Record ``size`` activities about ``packs`` packs; returns the pack ids."""
    now = ws.now()
    ids: list[str] = []
    settings: list[Setting] = []
    for i in range(packs):
        pack = ws.add_resource(
            Resource(ws.new_id(), T_PACK, ws.root_id, [f"bench-{i}"], "p", {}, None, now, now, "1")
        )
        ids.append(pack.id)
        activities.record(ws, "resource_created", pack, None)
        setting = Setting(ws.new_id(), P_APPROVED, pack.id, "Skip", None, False, "REQUIRED", None, None, None,
                          None, None, now, now, "1")  # fmt: skip
        settings.append(setting)
        activities.record(ws, "policy_setting_created", pack, None, setting=setting)
    while len(ws.activities) < size:
        setting = settings[len(ws.activities) % len(settings)]
        activities.record(
            ws, "policy_setting_updated", ws.resources[setting.resource_id], None, setting=setting
        )
    return ids


def timed(ctx: Context, filters: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    found = len(feed.notifications(ctx, {"filter": filters})["items"])
    return (time.perf_counter() - started) * 1000, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--packs", type=int, default=1000)
    args = parser.parse_args()
    print(
        "| activities in the log | poll since a watermark (10 new), ms | whole log (first pages, limit 5000), ms | found |"
    )
    print("|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        ws = build_workspace(None)
        packs = fill(ws, size, min(args.packs, size // 2))
        ctx = Context(ws, Faults())
        views = policy_feed(packs, ["arn:aws:::123456789012"])
        watermark = ws.activities[-10].create_ts
        poll = sum(timed(ctx, v.filters(since=watermark))[0] for v in views)
        whole = [timed(ctx, v.filters()) for v in views]
        print(f"| {size} | {poll:.1f} | {sum(t for t, _ in whole):.1f} | {sum(n for _, n in whole)} |")


if __name__ == "__main__":
    main()
