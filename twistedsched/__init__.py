"""
twistedsched: a job scheduler for Twisted.
"""

__version__ = "0.1.0"
