class ReportError(RuntimeError):
    """A report that cannot be drawn: the message says what is missing and how to get it."""
