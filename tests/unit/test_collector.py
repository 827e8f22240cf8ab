"""The collector's thresholds for the operator's process (``collector.tune``): young collections rare enough
that work in flight is freed before it is promoted, the older generations as CPython sets them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ecr_privacy_operator import collector, kopf_gate, main


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_tune_raises_the_young_threshold_and_keeps_the_others(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert collector.tune() == (700, 10, 10)
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, 10, 10)
    assert collector.YOUNG_THRESHOLD >= 10_000


def test_the_command_tunes_the_collector_before_kopf_runs(
    thresholds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []

    async def operator(**_: object) -> None:  # Kopf's operator: what the collector is set to when it starts
        seen.append(gc.get_threshold())

    monkeypatch.delenv("ECR_PRIVACY_PEERING", raising=False)  # standalone, the command's default
    for var in ("ECR_PRIVACY_METRICS_PORT", "POD_ID"):
        monkeypatch.delenv(var, raising=False)  # the command sets these; restored after the test
    gc.set_threshold(700, 10, 10)
    monkeypatch.setattr(main.kopf, "operator", operator)
    monkeypatch.setattr(kopf_gate, "install", lambda: True)
    monkeypatch.setattr(main.kopf, "configure", lambda **_: None)
    assert main.main(["--metrics-port", "0", "--liveness", ""]) == 0
    assert seen == [(collector.YOUNG_THRESHOLD, 10, 10)]
