"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """Bad input (config, path, checkpoint, data): shown as one line, exit code 2.

    The message names the problem and, where there is one, the fix.
    """
