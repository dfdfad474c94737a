"""
A bound on the work of computing one fire time.

Triggers nest (C{and}, C{or}) and some searches loop (an C{and} whose parts
rarely meet, a cron rule that mostly matches inside DST gaps), so a limit per
loop multiplies with nesting.  Instead, each computation of a fire time gets
one L{WorkBudget} of steps, shared by the whole tree of triggers: the
outermost C{next_fire_time} opens it (L{metered}) and every loop spends from
it (L{spend}).  A computation that runs out fails with L{TriggerWorkError},
a L{TriggerError}, within a few milliseconds.

Trees are bounded too: at most L{MAX_DEPTH} levels and L{MAX_TRIGGERS}
triggers in all (L{check_tree}).
"""

import contextvars
import functools

from twistedsched.errors import TriggerError

#: Steps one fire time may cost: a step is an C{and} round, a month a cron
#: search looks at, or a DST gap it skips.  About 5 ms at most (python -m benchmarks triggers).
MAX_WORK = 1000
#: Levels of C{and}/C{or} nesting.
MAX_DEPTH = 5
#: Triggers in one tree, the combinations included.
MAX_TRIGGERS = 32

_current = contextvars.ContextVar("twistedsched_trigger_budget", default=None)


class TriggerWorkError(TriggerError):
    """Computing a fire time took more than its L{WorkBudget}."""


class WorkBudget:
    """
    C{limit} steps of work; C{spent} so far.  L{spend} fails with
    L{TriggerWorkError} past the limit.
    """

    def __init__(self, limit=MAX_WORK):
        self.limit = limit
        self.spent = 0

    def spend(self, steps=1):
        self.spent += steps
        if self.spent > self.limit:
            raise TriggerWorkError(
                "the trigger needs more than %d steps of work to check it or find its "
                "next fire time (nested 'and' triggers whose parts rarely meet, or a cron rule that "
                "matches almost only inside DST gaps); simplify it" % (self.limit,))


def spend(steps=1):
    """Spend C{steps} from the budget of the fire time being computed."""
    budget = _current.get()
    if budget is not None:
        budget.spend(steps)


def run_metered(function, *args):
    """
    Call C{function(*args)} within the current budget, or within a new
    L{WorkBudget} when none is open (the outermost call).
    """
    if _current.get() is not None:
        return function(*args)
    token = _current.set(WorkBudget())
    try:
        return function(*args)
    finally:
        _current.reset(token)


def metered_cost(function, *args):
    """
    Call C{function(*args)} within a new L{WorkBudget} of its own; return
    its result and the steps it spent (for a caller that bounds the work of
    many fire times, such as the scheduler's catch-up after downtime).
    """
    budget = WorkBudget()
    token = _current.set(budget)
    try:
        return function(*args), budget.spent
    finally:
        _current.reset(token)


def metered(method):
    """
    Decorate a trigger method (C{next_fire_time}): the outermost call opens
    a new L{WorkBudget}; calls inside it (a combination's parts) share it.
    """
    @functools.wraps(method)
    def wrapper(self, *args):
        return run_metered(method, self, *args)
    return wrapper


def check_dict_tree(data):
    """
    Refuse a trigger dict whose C{and}/C{or} nesting exceeds the bounds of
    L{check_tree}, before any of it is built (so no deep recursion).
    """
    level, size = [data], 0
    for depth in range(MAX_DEPTH + 1):
        children = [child for node in level if isinstance(node, dict)
                    for child in _parts(node)]
        size += len(children)
        if not children:
            break
        if depth == MAX_DEPTH:
            raise TriggerError(
                "triggers: 'and'/'or' triggers nest at most %d deep" % (MAX_DEPTH,))
        if size + 1 > MAX_TRIGGERS:
            raise TriggerError(
                "triggers: at most %d triggers in one combination" % (MAX_TRIGGERS,))
        level = children


def _parts(node):
    parts = node.get("triggers")
    return parts if isinstance(parts, list) else []


def check_tree(triggers):
    """
    Refuse a combination of C{triggers} deeper than L{MAX_DEPTH} or with
    more than L{MAX_TRIGGERS} triggers in all.  Returns the combination's
    (depth, size).
    """
    depth = 1 + max(getattr(t, "tree_depth", 0) for t in triggers)
    size = 1 + sum(getattr(t, "tree_size", 1) for t in triggers)
    if depth > MAX_DEPTH:
        raise TriggerError("triggers: 'and'/'or' triggers nest at most %d deep" % (MAX_DEPTH,))
    if size > MAX_TRIGGERS:
        raise TriggerError("triggers: at most %d triggers in one combination" % (MAX_TRIGGERS,))
    return depth, size
