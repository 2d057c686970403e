"""A firmware campaign's pacing, pure and deterministic: cohorts (a canary spread over
sites, then waves growing by a factor), maintenance windows in each site's time
zone, how many of a site's chargers may update at once, and the abort rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from workflows.firmware import FailureClass, RolloutSettings, Target, Window


class SettingsError(ValueError):
    """Campaign settings that make no sense (the API answers 422 with the reason)."""


def check(settings: RolloutSettings) -> None:
    """Raise :class:`SettingsError` with the reason if ``settings`` are invalid."""
    if (settings.canary_count is None) == (settings.canary_share is None):
        raise SettingsError("give exactly one of canary_count and canary_share")
    if settings.canary_count is not None and settings.canary_count < 1:
        raise SettingsError("canary_count must be at least 1")
    if settings.canary_share is not None and not 0 < settings.canary_share <= 1:
        raise SettingsError("canary_share must be in (0, 1]")
    if not settings.growth_factor > 1 or settings.growth_factor > 100:
        raise SettingsError("growth_factor must be above 1 (and at most 100)")
    if not 0 < settings.promote_share <= 1:
        raise SettingsError("promote_share must be in (0, 1]")
    if not 0 < settings.max_site_share <= 1:
        raise SettingsError("max_site_share must be in (0, 1]")
    if settings.soak_s < 0 or settings.abort_min_stations < 1 or settings.max_in_flight < 1:
        raise SettingsError("soak_s >= 0, abort_min_stations >= 1 and max_in_flight >= 1")
    for name, share in settings.abort_shares.items():
        if name not in FailureClass.ALL:
            known = ", ".join(FailureClass.ALL)
            raise SettingsError(f"abort_shares: unknown failure class {name!r} (one of {known})")
        if not 0 <= share <= 1:
            raise SettingsError(f"abort share of {name} must be in [0, 1]")
    for window in [*settings.windows, *(w for ws in settings.site_windows.values() for w in ws)]:
        _clock(window.start)
        _clock(window.end)
        if any(not 0 <= day <= 6 for day in window.days):
            raise SettingsError("window days are 0 (Monday) to 6 (Sunday)")


def _clock(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise SettingsError(f"{text!r} is not a time of day (HH:MM)") from None


def canary_size(settings: RolloutSettings, targets: int, images: int = 1) -> int:
    """How many stations the canary cohort holds: at least one per image, so each
    image of a multi-vendor campaign is proven before its fleet gets it."""
    if settings.canary_count is not None:
        return min(targets, max(images, settings.canary_count))
    return min(targets, max(images, math.ceil(targets * (settings.canary_share or 0))))


def interleaved(targets: Sequence[Target]) -> list[Target]:
    """The targets taking one station of each site in turn, so any prefix (the canary,
    each wave) is spread over the sites; in a campaign of several images the turns
    alternate between images too, so the first stations cover every image."""
    groups: dict[str, dict[str, list[Target]]] = {}
    for target in targets:
        by_site = groups.setdefault(target.image_id or "", {})
        by_site.setdefault(target.site_id or "", []).append(target)
    # Each image's sites in order; the n-th site of every image before any (n+1)-th.
    ranked = [
        (rank, image, group)
        for image, by_site in groups.items()
        for rank, (_, group) in enumerate(sorted(by_site.items()))
    ]
    queues = [list(reversed(group)) for _, _, group in sorted(ranked, key=lambda r: r[:2])]
    order: list[Target] = []
    while queues:
        queues = [q for q in queues if q]
        for queue in queues:
            order.append(queue.pop())
    return order


def cohorts(targets: Sequence[Target], settings: RolloutSettings) -> list[list[Target]]:
    """The canary, then waves each ``growth_factor`` times the one before."""
    order = interleaved(targets)
    size = canary_size(settings, len(order), len({t.image_id for t in targets}))
    waves, at = [], 0
    while at < len(order):
        waves.append(order[at : at + size])
        at += size
        size = max(size + 1, math.ceil(size * settings.growth_factor))
    return waves


def site_limit(settings: RolloutSettings, site_size: int) -> int:
    """How many of a site's chargers may update at once (at least one)."""
    return max(1, math.floor(settings.max_site_share * site_size))


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def window_state(
    windows: Sequence[Window], time_zone: str, now: datetime
) -> tuple[bool, datetime | None]:
    """Whether ``now`` is inside one of ``windows`` in ``time_zone``, and when that
    changes (the open window's end, or the next one's start; None: never). No
    windows: always open."""
    if not windows:
        return True, None
    zone = _zone(time_zone)
    local = now.astimezone(zone)
    spans: list[tuple[datetime, datetime]] = []
    for offset in range(-1, 8):
        day = local.date() + timedelta(days=offset)
        for window in windows:
            if window.days and day.weekday() not in window.days:
                continue
            start = datetime.combine(day, _clock(window.start), zone)
            end = datetime.combine(day, _clock(window.end), zone)
            if end <= start:
                end += timedelta(days=1)
            spans.append((start, end))
    inside = [end for start, end in spans if start <= now < end]
    if inside:
        return True, max(inside).astimezone(now.tzinfo)
    upcoming = [start for start, _ in spans if start > now]
    return False, min(upcoming).astimezone(now.tzinfo) if upcoming else None


def abort_reason(
    failures: Mapping[str, int], finished: int, settings: RolloutSettings
) -> str | None:
    """Why the campaign must abort now, if it must: an invalid signature at once;
    another class once its share of the finished stations passes its threshold
    (counted from ``abort_min_stations`` finished on)."""
    if failures.get("signature_invalid", 0) > 0:
        return "a station reported an invalid firmware signature"
    if finished < settings.abort_min_stations:
        return None
    for name, limit in sorted(settings.abort_shares.items()):
        count = failures.get(name, 0)
        if count and count / finished > limit:
            share = count / finished
            return f"{name}: {count} of {finished} finished stations ({share:.0%} > {limit:.0%})"
    return None
