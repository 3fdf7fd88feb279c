"""The one exception type users see: its message is printed as a single line by the CLI."""


class EdgembError(Exception):
    """A user-facing error: bad input, a model that does not fit, a device that does not answer.

    The message must name the file, layer, op or device concerned and what is wrong.
    """
