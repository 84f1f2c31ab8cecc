"""One exception type for mistakes a user can fix.

The CLI prints a UserError as a single line (what went wrong and what to do) and exits with code 2;
anything else is a bug and keeps its traceback.
"""


PROGRAM = ["matheval"]  # the command's name in error lines; the CLI sets it to its parser's prog


def error_line(error: BaseException) -> str:
    """The one line a UserError is shown as."""
    return f"{PROGRAM[0]}: error: {error}"


class UserError(Exception):
    """Bad input or environment: the message says what to do about it."""

    exit_code = 2


class Interrupted(UserError):
    """The user stopped the run (Ctrl-C); what was finished is saved. Exits with 130 like any shell."""

    exit_code = 130
