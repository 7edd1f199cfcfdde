"""One exception type for mistakes a user can fix; the CLI prints it as one line, without a traceback."""


class KitError(Exception):
    """A user-facing error: the message names the key/file and says what to do."""
