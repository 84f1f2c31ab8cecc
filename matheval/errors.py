"""One exception type for mistakes a user can fix.

The CLI prints a UserError as a single line (what went wrong and what to do) and exits with code 2;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input or environment: the message says what to do about it."""
