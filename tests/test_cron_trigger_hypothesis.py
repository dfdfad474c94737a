"""
Property tests for the cron trigger: for random expressions and start
instants (many near DST transitions), the next fire time equals what a
brute-force walk through wall time finds; and plain crontab lines agree with
croniter away from DST.
"""

import calendar
import datetime as _dt
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from twistedsched.errors import TriggerError
from twistedsched.timeutil import UTC
from twistedsched.triggers import CronTrigger

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
YEARS = range(2019, 2032)
#: How far (in days) the reference looks ahead.
HORIZON = 800
MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DAY_NAMES = "mon tue wed thu fri sat sun".split()
NTH = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th"}
BOUNDS = {"month": (1, 12), "day": (1, 31), "week": (1, 53), "day_of_week": (0, 6),
          "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}


def _transitions(zone):
    """UTC instants (to the minute) where the zone's offset changes."""
    tz = ZoneInfo(zone)
    found = []
    day = _dt.datetime(YEARS[0], 1, 1, tzinfo=UTC)
    previous = day.astimezone(tz).utcoffset()
    while day.year <= YEARS[-1]:
        offset = day.astimezone(tz).utcoffset()
        if offset != previous:
            lo, hi = day - _dt.timedelta(days=1), day
            while hi - lo > _dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == offset:
                    hi = mid
                else:
                    lo = mid
            found.append(hi.replace(second=0, microsecond=0))
            previous = offset
        day += _dt.timedelta(days=1)
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


# -- expressions as data, rendered to text and evaluated independently --------

@st.composite
def plain_term(draw, field):
    lo, hi = BOUNDS[field]
    kind = draw(st.sampled_from(["star", "step", "value", "range", "range_step"]))
    if kind == "star":
        return ("range", lo, hi, 1, "*")
    if kind == "step":
        n = draw(st.integers(1, hi - lo + 1))
        return ("range", lo, hi, n, "*/%d" % n)
    if field == "hour":  # favour the hours where DST changes happen
        a = draw(st.one_of(st.integers(lo, hi), st.sampled_from([0, 1, 2, 3])))
    else:
        a = draw(st.integers(lo, hi))
    if kind == "value":
        return ("range", a, a, 1, _name(field, a))
    b = draw(st.integers(a, hi))
    if kind == "range":
        return ("range", a, b, 1, "%s-%s" % (_name(field, a), _name(field, b)))
    n = draw(st.integers(1, max(1, b - a + 1)))
    return ("range", a, b, n, "%d-%d/%d" % (a, b, n))


def _name(field, value):
    if field == "month" and value % 3 == 0:
        return MONTH_NAMES[value - 1]
    if field == "day_of_week" and value % 2 == 0:
        return DAY_NAMES[value]
    return str(value)


@st.composite
def day_term(draw, field):
    kind = draw(st.sampled_from(["plain", "plain", "plain", "last", "nth", "last_weekday"]))
    if kind == "last" and field == "day":
        return ("last", "last")
    if kind == "nth":
        n, wd = draw(st.integers(1, 5)), draw(st.integers(0, 6))
        return ("nth", n, wd, "%s %s" % (NTH[n], DAY_NAMES[wd]))
    if kind == "last_weekday":
        wd = draw(st.integers(0, 6))
        return ("nth", -1, wd, "last %s" % (DAY_NAMES[wd],))
    return draw(plain_term(field))


@st.composite
def field_expr(draw, field, star_weight=1):
    if draw(st.integers(0, star_weight)) > 0:
        return [("range",) + BOUNDS[field] + (1, "*")]
    term = day_term if field in ("day", "day_of_week") else plain_term
    return draw(st.lists(term(field), min_size=1, max_size=3))


def _star(field):
    return [("range",) + BOUNDS[field] + (1, "*")]


@st.composite
def time_expressions(draw):
    """Every day; random hour, minute and second fields."""
    expr = {field: _star(field) for field in ("month", "day", "week", "day_of_week")}
    for field in ("hour", "minute", "second"):
        expr[field] = draw(field_expr(field, 1))
    return expr


@st.composite
def expressions(draw):
    """A dict field -> list of terms; every field given."""
    return {
        "month": draw(field_expr("month", 2)),
        "day": draw(field_expr("day", 1)),
        "week": draw(field_expr("week", 8)),
        "day_of_week": draw(field_expr("day_of_week", 1)),
        "hour": draw(field_expr("hour", 1)),
        "minute": draw(field_expr("minute", 1)),
        "second": draw(field_expr("second", 3)),
    }


def _text(terms):
    return ",".join(term[-1] for term in terms)


def _plain_values(terms):
    values = set()
    for term in terms:
        if term[0] == "range":
            values.update(range(term[1], term[2] + 1, term[3]))
    return values


def _day_matches(terms, date):
    """Does C{date} match a day or day_of_week field's terms?"""
    length = calendar.monthrange(date.year, date.month)[1]
    for term in terms:
        if term[0] == "last" and date.day == length:
            return True
        if term[0] == "nth" and date.weekday() == term[2]:
            if term[1] == -1 and date.day + 7 > length:
                return True
            if (date.day - 1) // 7 + 1 == term[1]:
                return True
    return False


class Reference:
    """Brute force: walk day by day, minute by minute, second by second."""

    def __init__(self, expr, tz):
        self.expr, self.tz = expr, tz
        self.months = _plain_values(expr["month"])
        self.weeks = _plain_values(expr["week"])
        self.days = _plain_values(expr["day"])
        self.weekdays = _plain_values(expr["day_of_week"])
        self.hours = _plain_values(expr["hour"])
        self.minutes = _plain_values(expr["minute"])
        self.seconds = _plain_values(expr["second"])

    def date_matches(self, date):
        return (date.month in self.months
                and date.isocalendar()[1] in self.weeks
                and (date.day in self.days or _day_matches(self.expr["day"], date))
                and (date.weekday() in self.weekdays
                     or _day_matches(self.expr["day_of_week"], date)))

    def first_at_or_after(self, bound):
        """The first fire time >= the UTC instant C{bound}, or None in the horizon."""
        start_wall = bound.astimezone(self.tz).replace(tzinfo=None)
        earliest = start_wall - _dt.timedelta(hours=3)  # no DST shift is this big
        date = earliest.date()
        for _ in range(HORIZON):
            if self.date_matches(date):
                for minute_of_day in range(1440):
                    hour, minute = divmod(minute_of_day, 60)
                    if hour not in self.hours or minute not in self.minutes:
                        continue
                    wall = _dt.datetime.combine(date, _dt.time(hour, minute))
                    if wall + _dt.timedelta(minutes=1) <= earliest:
                        continue
                    for second in range(60):
                        if second not in self.seconds:
                            continue
                        found = self.check(wall.replace(second=second), bound)
                        if found is not None:
                            return found
            date += _dt.timedelta(days=1)
        self.searched_until = date  # the first day not looked at
        return None

    def check(self, wall, bound):
        local = wall.replace(tzinfo=self.tz, fold=0)
        fire = local.astimezone(UTC)
        if fire.astimezone(self.tz).replace(tzinfo=None) != wall:
            return None  # in a DST gap
        return fire if fire >= bound else None


@st.composite
def instants(draw, zone):
    """A UTC instant, usually within a few hours of a DST transition."""
    transitions = TRANSITIONS[zone]
    if transitions and draw(st.integers(0, 2)):
        base = draw(st.sampled_from(transitions))
        offset = draw(st.one_of(
            st.integers(-4 * 3600, 4 * 3600),
            st.sampled_from([-3600, -1800, -900, -60, -1, 0, 1, 60, 900, 1800, 3600]),
            st.integers(-26 * 3600, 26 * 3600)))
    else:
        base = _dt.datetime(YEARS[0], 1, 1, tzinfo=UTC)
        offset = draw(st.integers(0, (len(YEARS) - 1) * 365 * 86400))
    micro = draw(st.sampled_from([0, 0, 1, 999999]))
    return base + _dt.timedelta(seconds=offset, microseconds=micro)


def _ceil(moment):
    if moment.microsecond:
        return moment.replace(microsecond=0) + _dt.timedelta(seconds=1)
    return moment


class Draws:
    """
    Stands in for C{st.data()} in an explicit example: C{draw} returns the
    value given for the label.
    """

    def __init__(self, **values):
        self.values = values

    def draw(self, strategy, label):
        return self.values[label.replace(" ", "_")]


def _one(value, text=None):
    return [("range", value, value, 1, str(value) if text is None else text)]


#: New Year's midnight on a tuesday or a sunday, in New York: 2019, then
#: 2023, more than L{HORIZON} days later.
RARE_RULE = Draws(
    expression={"month": _one(1), "day": _one(1), "week": _star("week"),
                "day_of_week": _one(1) + _one(6, "sun"), "hour": _one(0),
                "minute": _one(0), "second": _one(0)},
    start=_dt.datetime(2019, 1, 1, tzinfo=UTC), with_previous=False)


class BruteForceTests(unittest.TestCase):

    def check(self, data, zone, exprs=expressions()):
        expr = data.draw(exprs, "expression")
        tz = ZoneInfo(zone) if zone != "UTC" else UTC
        try:
            trigger = CronTrigger(timezone=tz, **{f: _text(t) for f, t in expr.items()})
        except TriggerError:
            assume(False)
        start = data.draw(instants(zone), "start")
        reference = Reference(expr, tz)
        if data.draw(st.booleans(), "with previous"):
            bound = start.replace(microsecond=0) + _dt.timedelta(seconds=1)
            got = trigger.next_fire_time(start, start + _dt.timedelta(days=400))
        else:
            bound = _ceil(start)
            got = trigger.next_fire_time(None, start)
        if self.assertAgrees(got, reference, bound, (str(trigger), start)) is not None:
            # And the one after it.
            self.assertAgrees(trigger.next_fire_time(got, start), reference,
                              got + _dt.timedelta(seconds=1), (str(trigger), start, got))

    def assertAgrees(self, got, reference, bound, context):
        """
        Assert that C{got} is the C{reference}'s first fire time at or after
        C{bound}, or, if it finds none within its horizon, that C{got} is
        None or past the days it searched.  Return the reference's time.
        """
        want = reference.first_at_or_after(bound)
        if want is None:
            self.assertTrue(got is None or
                            got.astimezone(reference.tz).date() >= reference.searched_until,
                            context + (got,))
        else:
            self.assertEqual(got, want, context)
        return want

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def test_utc(self, data):
        self.check(data, "UTC")

    @settings(max_examples=120, deadline=None)
    @given(st.data())
    @example(data=RARE_RULE)
    def test_new_york(self, data):
        self.check(data, "America/New_York")

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_london(self, data):
        self.check(data, "Europe/London")

    @settings(max_examples=120, deadline=None)
    @given(st.data())
    def test_lord_howe(self, data):
        self.check(data, "Australia/Lord_Howe")

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def test_kathmandu(self, data):
        self.check(data, "Asia/Kathmandu")

    @settings(max_examples=120, deadline=None)
    @given(st.data(), st.sampled_from(ZONES[1:4]))
    def test_daily_times_near_transitions(self, data, zone):
        self.check(data, zone, time_expressions())

    def test_next_fire_past_the_horizon(self):
        """
        When the reference finds no fire time after the first one within
        its horizon, the trigger's (2023-01-01) is accepted, as for the
        first one.
        """
        self.check(RARE_RULE, "America/New_York")

    def test_rare_rule(self):
        """The trigger itself finds fire times years apart."""
        trigger = CronTrigger(month=1, day=1, day_of_week="tue,sun", hour=0,
                              timezone="America/New_York")
        start = _dt.datetime(2019, 1, 1, tzinfo=UTC)
        fires = [trigger.next_fire_time(None, start)]
        for _ in range(2):
            fires.append(trigger.next_fire_time(fires[-1], start))
        self.assertEqual(fires, [_dt.datetime(year, 1, 1, 5, tzinfo=UTC)
                                 for year in (2019, 2023, 2030)])


@st.composite
def crontab_lines(draw):
    """Plain 5-field lines: numbers, ranges, steps, lists, names."""
    parts = []
    for field in ("minute", "hour", "day", "month", "day_of_week"):
        lo, hi = BOUNDS[field]
        if field == "day_of_week" and draw(st.booleans()):
            parts.append("*")
            continue
        if field == "day" and draw(st.booleans()):
            parts.append("*")
            continue
        terms = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["star", "step", "value", "range", "range_step"]))
            a = draw(st.integers(lo, hi))
            b = draw(st.integers(a, hi))
            n = draw(st.integers(1, 12))
            if kind == "star" or (kind == "step" and field in ("day", "day_of_week")):
                # A leading "*" in a day field switches the OR rule off in
                # Vixie cron but not in croniter: keep day fields unambiguous.
                terms.append("%d" % a)
            elif kind == "step":
                terms.append("*/%d" % n)
            elif kind == "value" or a == b:
                # (croniter misreads one-value ranges such as "1-1".)
                terms.append(str(a))
            elif kind == "range":
                terms.append("%d-%d" % (a, b))
            else:
                terms.append("%d-%d/%d" % (a, b, n))
        parts.append(",".join(terms))
    return " ".join(parts)


class CroniterTests(unittest.TestCase):

    @settings(max_examples=150, deadline=None)
    @given(crontab_lines(), st.sampled_from(["UTC", "Asia/Kathmandu"]),
           st.integers(0, (len(YEARS) - 1) * 365 * 86400))
    def test_agrees_with_croniter(self, line, zone, offset):
        tz = ZoneInfo(zone)
        try:
            trigger = CronTrigger.from_crontab(line, timezone=tz)
        except TriggerError:
            assume(False)
        start = _dt.datetime(YEARS[0], 1, 1, tzinfo=UTC) + _dt.timedelta(seconds=offset)
        iterator = croniter(line, start.astimezone(tz))
        previous = start
        for _ in range(3):
            want = iterator.get_next(_dt.datetime).astimezone(UTC)
            previous = trigger.next_fire_time(previous, start)
            self.assertEqual(previous, want, (line, zone, start))


# -- issue 16's syntax, where croniter claims the same meaning --------------------

CRONTAB_RANGES = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12),
                  "day_of_week": (0, 6)}


@st.composite
def wrapping_range(draw, field):
    """A range whose end is below its start (no step: croniter's steps differ)."""
    lo, hi = CRONTAB_RANGES[field]
    a = draw(st.integers(lo + 1, hi))
    b = draw(st.integers(lo, a - 1))
    return "%d-%d" % (a, b)


@st.composite
def hashed_term(draw, field):
    """H, H/n, H(a-b), H(a-b)/n (in the day field only the forms with a range)."""
    lo, hi = CRONTAB_RANGES[field]
    kind = draw(st.sampled_from(["plain", "step", "range", "range_step"]))
    if field == "day" and kind in ("plain", "step"):
        kind = "range_" + kind.replace("plain", "only")
    if kind == "plain":
        return "H"
    if kind == "step":
        return "H/%d" % draw(st.integers(1, hi - lo + 1))
    a = draw(st.integers(lo, hi - 1))
    b = draw(st.integers(a + 1, hi))
    if kind in ("range", "range_only"):
        return "H(%d-%d)" % (a, b)
    return "H(%d-%d)/%d" % (a, b, draw(st.integers(1, hi - lo + 1)))


@st.composite
def issue16_lines(draw):
    """
    5-field lines with wrap-around ranges, sunday-ended weekday ranges,
    C{a-L} and C{nW} days and H terms (both day fields are never restricted
    at once, where croniter's W and H rules differ from ours).
    """
    parts = {}
    for field in ("minute", "hour", "month"):
        kind = draw(st.sampled_from(["value", "wrap", "hashed"]))
        lo, hi = CRONTAB_RANGES[field]
        if kind == "value":
            parts[field] = str(draw(st.integers(lo, hi)))
        elif kind == "wrap":
            parts[field] = draw(wrapping_range(field))
        else:
            parts[field] = draw(hashed_term(field))
    restricted = draw(st.sampled_from(["day", "day_of_week", "neither"]))
    parts["day"] = parts["day_of_week"] = "*"
    if restricted == "day":
        parts["day"] = draw(st.one_of(
            wrapping_range("day"), hashed_term("day"),
            # (croniter reads "31-L" as the one-value range 31-31, which it
            # takes as the whole month.)
            st.integers(1, 30).map(lambda d: "%d-L" % d),
            st.integers(1, 31).map(lambda d: "%dW" % d)))
    elif restricted == "day_of_week":
        parts["day_of_week"] = draw(st.one_of(
            wrapping_range("day_of_week"), hashed_term("day_of_week"),
            st.sampled_from(["mon-sun", "wed-sun", "5-7", "1-7", "fri-sun", "sat-sun"])))
    return " ".join(parts[f] for f in ("minute", "hour", "day", "month", "day_of_week"))


class CroniterSyntaxTests(unittest.TestCase):
    """The new syntax gives croniter's fire times (hashed from the same id)."""

    @settings(max_examples=200, deadline=None)
    @given(issue16_lines(), st.text("abcdefgh0123456789-", min_size=1, max_size=12),
           st.integers(0, (len(YEARS) - 1) * 365 * 86400))
    def test_agrees_with_croniter(self, line, job_id, offset):
        try:
            trigger = CronTrigger.from_crontab(line).bound_to(job_id)
        except TriggerError:
            assume(False)   # H picked a day the months never have (H(14-31) 2)
        start = _dt.datetime(YEARS[0], 1, 1, tzinfo=UTC) + _dt.timedelta(seconds=offset)
        iterator = croniter(line, start, hash_id=job_id.encode())
        previous = start
        for _ in range(4):
            want = iterator.get_next(_dt.datetime).astimezone(UTC)
            previous = trigger.next_fire_time(previous, start)
            self.assertEqual(previous, want, (line, job_id, start))
