"""
twistedsched's benchmarks: side by side with raw C{reactor.callLater} and
APScheduler 3's TwistedScheduler.  Run C{python -m benchmarks --help}.
"""
