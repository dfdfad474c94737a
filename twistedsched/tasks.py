"""
The task registry: names under which functions may be scheduled.

Remote clients (the control port and the console) may schedule registered
tasks only, so the registry is the list of what the operator allows.
"""

import re

from twistedsched.errors import BadArgumentError, UnknownTaskError

TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class TaskRegistry:
    """A mapping of task names to callables."""

    def __init__(self):
        self._tasks = {}

    def register(self, name, func):
        """Register C{func} as C{name}; return C{func}."""
        if not isinstance(name, str) or not TASK_NAME.match(name):
            raise BadArgumentError(
                "task name %r: use letters, digits, '_', '.', '-' (no ':')" % (name,))
        if not callable(func):
            raise BadArgumentError("task %r: %r is not callable" % (name, func))
        self._tasks[name] = func
        return func

    def task(self, name=None):
        """Decorator: register the function under C{name} (default: its name)."""
        def decorate(func):
            return self.register(name or func.__name__, func)
        return decorate

    def unregister(self, name):
        if name not in self._tasks:
            raise UnknownTaskError(name)
        del self._tasks[name]

    def lookup(self, name):
        """The callable registered as C{name}; L{UnknownTaskError} if none."""
        try:
            return self._tasks[name]
        except (KeyError, TypeError):
            raise UnknownTaskError(name) from None

    def name_of(self, func):
        """The name under which C{func} is registered, or C{None}."""
        for name, registered in self._tasks.items():
            if registered is func:
                return name
        return None

    def names(self):
        return sorted(self._tasks)

    def __contains__(self, name):
        return name in self._tasks

    def __len__(self):
        return len(self._tasks)

    def __iter__(self):
        return iter(self.names())

    def update(self, other):
        """Copy every task of another registry into this one."""
        for name in other:
            self.register(name, other.lookup(name))


# Tasks registered at import time by modules named with ``--tasks``: the
# daemon copies them into its scheduler's registry.
default_registry = TaskRegistry()
task = default_registry.task
