"""Bar-chart geometry and the dashboard's counts."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.console.world import ConsoleWorld, seed
from vault.audit import AuditEvent, append
from vault.console.charts import grouped_bars
from vault.console.reports import dashboard
from vault.repositories.audit import AuditFilter
from vault.runtime import VaultRuntime


def test_bars_share_one_zero_based_scale() -> None:
    chart = grouped_bars("c", "T", "D", ["a", "b"], {"x": [0, 4], "y": [2, 1]})
    assert [b.value for b in chart.bars] == [0, 2, 4, 1]
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.value == 4 and tallest.y + tallest.height == chart.plot_bottom
    half = next(b for b in chart.bars if b.value == 2)
    assert half.height == pytest.approx(tallest.height / 2, abs=0.1)
    assert [t.text for t in chart.y_ticks] == ["0", "5"]  # 4 rounds up to a 1-2-5 step
    top = chart.y_ticks[-1].position
    assert tallest.height == pytest.approx((chart.plot_bottom - top) * 4 / 5, abs=0.1)
    assert all(chart.plot_left <= b.x and b.x + b.width <= chart.plot_right for b in chart.bars)
    assert not chart.empty


def test_an_empty_chart_still_has_a_scale() -> None:
    chart = grouped_bars("c", "T", "D", ["a"], {"x": [0]})
    assert chart.empty and chart.y_ticks[0].text == "0"
    with pytest.raises(ValueError, match="one value per category"):
        grouped_bars("c", "T", "D", ["a", "b"], {"x": [1]})


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[ConsoleWorld]:
    yield seed(runtime)


def _event(trial: str, action: str, outcome: str = "success", bulk: bool = False) -> AuditEvent:
    return AuditEvent(1, "p", "r", "-", trial, action, outcome, details={"bulk": bulk})


def test_the_dashboard_counts_requests_denials_and_bulk_per_week_and_trial(
    world: ConsoleWorld,
) -> None:
    runtime = world.runtime
    with runtime.transaction() as session:
        for event in (
            _event(world.trial, "reidentification.request"),
            _event(world.trial, "reidentification.request", bulk=True),
            _event(world.trial, "reidentification.request", outcome="refused"),
            _event(world.trial, "reidentification.deny"),
            _event(world.other_trial, "reidentification.request"),
        ):
            append(session, runtime.signer, event)
    now = datetime.now(UTC) + timedelta(seconds=1)
    with runtime.sessions() as session:
        board = dashboard(session, AuditFilter(trials=frozenset({world.trial})), now)
        everywhere = dashboard(session, AuditFilter(), now)
    assert board.totals == {"requests": 2, "denials": 1, "bulk": 1}
    assert board.per_trial.categories == [world.trial]
    assert [row[-1] for row in board.per_week.values] == [2, 1, 1]  # this week is last
    assert everywhere.totals["requests"] == 3
    assert set(everywhere.per_trial.categories) == {world.trial, world.other_trial}
