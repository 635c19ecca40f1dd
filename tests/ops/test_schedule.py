"""The daemon's schedule: parsing, fire times, and which jobs catch up after downtime (injected times)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_lake.core.errors import UsageError
from binance_lake.ops.schedule import DEFAULT_SCHEDULE, JobSpec, due_at_start, next_wakeup, parse_schedule

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_defaults_and_overrides_in_job_order() -> None:
    specs = parse_schedule({"update": "30 3 * * *", "check": "0 4 * * *"})
    assert [(s.job, s.cron) for s in specs] == [
        ("probe", DEFAULT_SCHEDULE["probe"]),
        ("update", "30 3 * * *"),
        ("check", "0 4 * * *"),
    ]
    assert [s.job for s in parse_schedule({"probe": "off"})] == ["update"]


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"updte": "0 2 * * *"}, "unknown job 'updte'"),
        ({"update": "0 25 * * *"}, "is not a cron expression"),
        ({"update": "every day"}, "is not a cron expression"),
    ],
)
def test_bad_schedule_is_one_sentence(table: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_schedule(table)


def test_fire_times_are_utc() -> None:
    daily = JobSpec("update", "0 2 * * *")
    assert daily.next_fire(at("2026-12-01 01:59:59")) == at("2026-12-01 02:00:00")
    assert daily.next_fire(at("2026-12-01 02:00:00")) == at("2026-12-02 02:00:00")
    assert daily.latest_fire(at("2026-12-01 02:00:00")) == at("2026-12-01 02:00:00")
    assert daily.latest_fire(at("2026-12-01 01:00:00")) == at("2026-11-30 02:00:00")
    yearly = JobSpec("probe", "0 0 1 1 *")
    assert yearly.latest_fire(at("2026-12-01 00:00:00")) == at("2026-01-01 00:00:00")


def test_catch_up_coalesces_missed_runs() -> None:
    daily = JobSpec("update", "0 2 * * *")
    # Never ran: due at once, so a new daemon brings the lake up to date without waiting for 02:00.
    assert due_at_start(daily, None, at("2026-12-01 12:00"))
    # Ran after today's 02:00: nothing missed.
    assert not due_at_start(daily, at("2026-12-01 02:00:05"), at("2026-12-01 23:00"))
    # Down for three days: due once; after that run (at `now`), not due again.
    now = at("2026-12-04 09:00")
    assert due_at_start(daily, at("2026-12-01 02:00:05"), now)
    assert not due_at_start(daily, now, now + dt.timedelta(minutes=1))


def test_next_wakeup_names_every_job_firing_then_in_order() -> None:
    specs = parse_schedule({"probe": "0 2 * * *", "update": "0 2 * * *"})
    assert next_wakeup(specs, at("2026-12-01 01:00")) == (at("2026-12-01 02:00"), ("probe", "update"))
    assert next_wakeup((), at("2026-12-01 01:00")) is None


CRONS = ["* * * * *", "*/7 * * * *", "15 */6 * * *", "0 2 * * *", "0 0 * * 1", "0 0 1 * *", "0 0 1 1 *"]


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(CRONS),
    now=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)),
)
def test_latest_fire_is_the_last_fire_not_after_now(cron: str, now: dt.datetime) -> None:
    spec = JobSpec("probe", cron)
    now = now.replace(tzinfo=UTC, microsecond=0)
    latest = spec.latest_fire(now)
    assert latest <= now
    # No fire time lies between the latest one and now.
    assert spec.next_fire(latest) > now
