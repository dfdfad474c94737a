"""
Generators that yield Deferreds, run without the cost of
C{inlineCallbacks} when the Deferreds have already fired.
"""

import functools

from twisted.internet import defer
from twisted.python.failure import Failure


def steps(generator_function):
    """
    Like C{defer.inlineCallbacks} (the function yields Deferreds and gets
    their results), but a yielded Deferred that has already fired is taken
    at once, with no Deferred or context made per step: the scheduler's
    loops cost little with a store that answers at once (the memory store).
    Returns a Deferred of what the function returns.
    """
    @functools.wraps(generator_function)
    def run(*args, **kwargs):
        return _resume(generator_function(*args, **kwargs), None)
    return run


def _resume(generator, result):
    """Run C{generator} on from C{result} until it waits on an unfired Deferred or ends."""
    while True:
        try:
            if isinstance(result, Failure):
                yielded = result.throwExceptionIntoGenerator(generator)
            else:
                yielded = generator.send(result)
        except StopIteration as e:
            return defer.succeed(e.value)
        except BaseException:
            return defer.fail()
        if not isinstance(yielded, defer.Deferred):
            result = yielded
            continue
        if yielded.called and not yielded.paused and not isinstance(yielded.result, Failure) \
                and not getattr(yielded, "_runningCallbacks", True):
            result = yielded.result     # fired, with its final value: nothing to chain
            continue
        box = []
        yielded.addBoth(_arrived, generator, box)
        if box:                 # it had fired: go on here, with no Deferred more
            result = box[0]
            continue
        box.append(None)        # not yet: _arrived resumes the generator later
        return yielded


def _arrived(outcome, generator, box):
    """The outcome of a yielded Deferred: kept if it came at once, else resumes."""
    if box:
        return _resume(generator, outcome)
    box.append(outcome)
    return None
