"""Errors that the command line reports as one clear line."""


class LosstopoError(Exception):
    """A user-facing error: bad input, missing file, unknown name.

    The CLI prints ``losstopo: error: <message>`` and exits non-zero, so the
    message must name the file, key or value at fault.
    """
