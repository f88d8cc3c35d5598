"""Time in one place: stored in UTC with an offset, shown and reasoned about in local time.

Every datetime dalletui holds is timezone-aware. ``now()`` is the local time with its offset;
the database stores the same instant in UTC (``storage.models.UTCDateTimeField``). A naive
datetime (from an older database, or a caller) is taken to be local time.

``parse_when`` reads what a user types after ``--since`` / ``--until``: a date, a date and time,
``today``, ``yesterday``, or an age such as ``7d``, ``2w``, ``3m`` (days, weeks, months ago).
"""

from __future__ import annotations

import datetime as dt
import re

UTC = dt.UTC


def now() -> dt.datetime:
    """The current local time, timezone-aware."""
    return dt.datetime.now(UTC).astimezone()


def local(value: dt.datetime) -> dt.datetime:
    """``value`` in local time (aware); a naive value is taken to be local already."""
    return value.astimezone()  # a naive value gets the local offset of that moment


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (aware); a naive value is taken to be local time."""
    return local(value).astimezone(UTC)


def start_of_day(day: dt.date) -> dt.datetime:
    """Local midnight at the start of ``day`` (aware)."""
    return dt.datetime.combine(day, dt.time()).astimezone()


def start_of_week(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week (ISO weeks)."""
    return day - dt.timedelta(days=day.weekday())


def start_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_before(day: dt.date, months: int) -> dt.date:
    """``day`` moved back ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(f"no such month: {year}-{month}")  # pragma: no cover - unreachable


_AGE = re.compile(r"^(\d{1,5})\s*([dwm])$")


def parse_when(text: str, *, end: bool = False, today: dt.date | None = None) -> dt.datetime:
    """The moment ``text`` names, as an aware local datetime; ``ValueError`` with a sentence.

    A bare day (``2026-11-30``, ``today``, ``yesterday``, ``7d``) means its start, or with
    ``end`` the start of the next day, so ``--until 2026-11-30`` includes all of the 30th. A
    date and time is taken as written (local time unless it carries an offset).
    """
    raw = text.strip().lower()
    today = today or now().date()
    day: dt.date | None = None
    if raw == "today":
        day = today
    elif raw == "yesterday":
        day = today - dt.timedelta(days=1)
    elif match := _AGE.match(raw):
        count, unit = int(match.group(1)), match.group(2)
        if unit == "d":
            day = today - dt.timedelta(days=count)
        elif unit == "w":
            day = today - dt.timedelta(weeks=count)
        else:
            day = months_before(today, count)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"'{text.strip()}' is not a date on the calendar") from None
    else:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(
                f"'{text.strip()[:40]}' is not a date: write YYYY-MM-DD, "
                "'YYYY-MM-DD HH:MM', today, yesterday, or an age like 7d, 2w, 3m"
            ) from None
        return local(moment)
    if end:
        day = day + dt.timedelta(days=1)
    return start_of_day(day)
