"""Schedule triggers on the Clock: APScheduler cron triggers evaluated against the clock, not a timer thread.

The same trigger fires in live time and in simulated time: each cycle asks whether the next fire time
has come. A fire time missed while the controller was stopped fires once on restart (an L8 cycle runs late
rather than never), never more than once.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger


class CronSchedule:
    """One cron trigger, asked each cycle whether it is due."""

    def __init__(self, trigger: CronTrigger, now: datetime, last_fired: datetime | None = None) -> None:
        self.trigger = trigger
        self.last_fired = last_fired
        self.next_fire: datetime | None = None
        self._plan(trigger.get_next_fire_time(last_fired, now))

    def _plan(self, fire: datetime | None) -> None:
        self.next_fire = fire
        # compared with the clock's UTC time every cycle: in UTC that is a plain comparison
        self._next_utc = fire.astimezone(UTC) if fire is not None else None

    @classmethod
    def daily(cls, at: time, zone: ZoneInfo, now: datetime, last_fired: datetime | None = None,
              day_of_week: str | None = None) -> CronSchedule:
        """Every day (or every `day_of_week`, e.g. ``sun``) at local time `at` in `zone`."""
        trigger = CronTrigger(day_of_week=day_of_week, hour=at.hour, minute=at.minute, second=0, timezone=zone)
        return cls(trigger, now, last_fired)

    def due(self, now: datetime) -> datetime | None:
        """The fire time that has come by `now` (at most one), else None; the next one is then planned."""
        fired = self.next_fire
        if fired is None or now < self._next_utc:  # type: ignore[operator]  # set with next_fire
            return None
        self.last_fired = fired
        self._plan(self.trigger.get_next_fire_time(None, max(now, fired + timedelta(seconds=1))))
        return fired
