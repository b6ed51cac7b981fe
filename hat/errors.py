"""The one exception type users see: a one-line message, printed by the CLI without a traceback."""


class HatError(Exception):
    """A user-facing error. The message is one line and names the offending file, key or value."""
