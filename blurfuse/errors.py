"""The one exception type every subcommand raises for a mistake the user can fix.

It lives apart from `blurfuse.cli` so that subcommand modules (and `blurfuse.main_job`, which the
CLI itself registers) can raise it without importing the dispatcher back.
"""


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""
