"""Wall-clock calendar kept from ticks: day number since 2000-01-01, ms of day and weekday, without big ints.

The pump keeps UTC (the RTC, the event log, the status); the calendar's day, ms of day and weekday are the patient's
local time, UTC plus the configured offset (`utc_offset_min`), because a schedule's times of day are the patient's.
The conversion happens only where a wall time comes in or goes out (set_wall_*, wall_*_at)."""

from pump import events as ev
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import E_RANGE, PumpError

MS_PER_DAY = const(86400000)
_EPOCH_WEEKDAY = const(5)  # 2000-01-01 was a Saturday; weekday 0 is Monday
# The wall clock the pump accepts (set-clock, the RTC at boot, stored records), in s since 2000-01-01: every such time
# fits the u32 of the checkpoint, the event log and the BLE frames. Above 2**30: plain ints, not consts.
WALL_MIN_S = 757382400  # 2024-01-01 00:00:00
WALL_MAX_S = 3155759999  # 2099-12-31 23:59:59
WALL_MAX_DAY = const(36524)  # the day of WALL_MAX_S
WALL_RANGE = "2024-01-01 00:00 .. 2099-12-31 23:59:59"


def check_wall_s(wall_s, key="wall_s"):
    """`wall_s` when it is an int within WALL_MIN_S .. WALL_MAX_S, else E_RANGE naming `key` and the range."""
    if type(wall_s) is not int or not WALL_MIN_S <= wall_s <= WALL_MAX_S:
        raise PumpError(E_RANGE, "%s: %r not in %s (%d..%d s since 2000-01-01)" % (
            key, wall_s, WALL_RANGE, WALL_MIN_S, WALL_MAX_S))
    return wall_s


def clock_unknown(rtc_ms, first, unset, saved_wall_ms, rtc_trusted):
    """0 when the wall clock is known at boot, else why not (pump.events CLOCK_*): no set-clock came since a boot
    found it unknown (`unset`), or the RTC reads outside the valid range (a board's RTC after a power cut reads 2000
    or 2021; `first`: no checkpoint, so it was never set), or earlier than the last checkpoint by more than the RP2040
    RTC's rounding to whole seconds. The pump goes on from the checkpoint's time either way: only the wall clock is in
    doubt, never a dose or a limit (those run on the monotonic clock, pump.monoclock)."""
    if unset:
        return ev.CLOCK_STILL_UNSET
    if not WALL_MIN_S * 1000 <= rtc_ms <= WALL_MAX_S * 1000:
        return ev.CLOCK_NEVER_SET if first else ev.CLOCK_LOST
    if not first and rtc_trusted and rtc_ms + 1000 <= saved_wall_ms:
        return ev.CLOCK_LOST
    return 0


class Calendar:
    """Maps ticks to (day, ms_of_day); `sync(now)` must run at least every 2**29 ms (the pump wakes daily)."""

    def __init__(self, wall_s=0, now=0, offset_s=0):
        self.day = 0
        self.ms_of_day = 0
        self.ref_ticks = now
        self.offset_ms = offset_s * 1000  # local time - UTC (a whole number of minutes)
        self.set_wall_s(wall_s, now)

    def set_wall_s(self, wall_s, now):
        """Set the wall clock to `wall_s` UTC seconds since 2000-01-01 at ticks `now` (cold path)."""
        self.set_wall_ms(wall_s * 1000, now)

    def set_wall_ms(self, wall_ms, now):
        """Set the wall clock to `wall_ms` UTC ms since 2000-01-01 at ticks `now` (cold path, big ints allowed)."""
        if wall_ms < 0:
            raise ValueError("wall clock before 2000")
        local_ms = max(wall_ms + self.offset_ms, 0)  # (a clock not known at 2000-01-01 in a zone west of UTC)
        day, ms = local_ms // MS_PER_DAY, local_ms % MS_PER_DAY  # not divmod: see pump.compat
        self.day = day
        self.ms_of_day = ms
        self.ref_ticks = now

    def sync(self, now):
        """Advance to ticks `now` (never backwards)."""
        dt = ticks_diff(now, self.ref_ticks)
        if dt <= 0:
            return
        ms = self.ms_of_day + dt
        while ms >= MS_PER_DAY:
            ms -= MS_PER_DAY
            self.day += 1
        self.ms_of_day = ms
        self.ref_ticks = now

    def at(self, now):
        """(day, ms_of_day) at ticks `now` without moving the calendar (readers must not disturb the dose plan)."""
        ms = self.ms_of_day + max(ticks_diff(now, self.ref_ticks), 0)
        day = self.day
        while ms >= MS_PER_DAY:
            ms -= MS_PER_DAY
            day += 1
        return day, ms

    def wall_ms_at(self, now):
        """UTC milliseconds since 2000-01-01 at ticks `now` (cold path: a big int), without moving the calendar."""
        day, ms = self.at(now)
        return day * MS_PER_DAY + ms - self.offset_ms

    def wall_s_at(self, now):
        """UTC seconds since 2000-01-01 at ticks `now` (cold path), without moving the calendar."""
        day, ms = self.at(now)
        return day * 86400 + (ms - self.offset_ms) // 1000

    def ticks_at_ms_of_day(self, ms_of_day, day_offset=0):
        """Ticks at which the calendar reaches `ms_of_day` on day `self.day + day_offset` (must be < 2**29 ms away)."""
        return ticks_add(self.ref_ticks, ms_of_day - self.ms_of_day + day_offset * MS_PER_DAY)

    @property
    def weekday(self):
        return (self.day + _EPOCH_WEEKDAY) % 7

    def wall_s(self):
        """UTC seconds since 2000-01-01 (a big int after 2034 on 32-bit boards: cold path only)."""
        return self.day * 86400 + (self.ms_of_day - self.offset_ms) // 1000


def civil_from_days(day):
    """(year, month, day_of_month) for a day number since 2000-01-01 (proleptic Gregorian)."""
    z = day + 730425  # days from 0000-03-01 to 2000-01-01
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def days_from_civil(y, m, d):
    """Day number since 2000-01-01 for a civil date."""
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425


def iso_date(day):
    y, m, d = civil_from_days(day)
    return "%04d-%02d-%02d" % (y, m, d)
