"""
Aligned text tables, for C{print_jobs}, the console and the command line.
"""


def format_table(headers, rows):
    """Return lines of C{rows} (sequences of text) aligned under C{headers}."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return [line(headers)] + [line(row) for row in rows]


def format_time(value, tz=None, missing="-"):
    """
    An aware datetime for people: in C{tz} (C{None}: the zone it carries),
    to the second; C{missing} for C{None}.
    """
    if value is None:
        return missing
    if tz is not None:
        value = value.astimezone(tz)
    return value.replace(microsecond=0).isoformat(sep=" ")


def format_run_time(value, tz):
    """A next run time for people: in C{tz}, to the second, or 'paused'."""
    return format_time(value, tz, "paused")


JOB_HEADERS = ("ID", "NAME", "TRIGGER", "NEXT RUN")


def job_rows(jobs, tz):
    """Rows of L{JOB_HEADERS} for C{jobs}."""
    return [(job.id, job.name, str(job.trigger), format_run_time(job.next_run_time, tz))
            for job in jobs]
