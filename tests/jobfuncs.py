"""
Module-level job functions for tests that need importable callables
(the process executor pickles them; text references resolve them).
"""

import os
import threading


def square(x):
    return x * x


def whoami():
    return os.getpid()


def thread_name():
    return threading.current_thread().name


def fail(message):
    raise ValueError(message)


async def coroutine():
    return "coroutine"
