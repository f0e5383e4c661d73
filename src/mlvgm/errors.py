"""The project's exception classes.

Every error a user can cause (bad data, bad config, bad checkpoint, bad tensor
input) is an :class:`MlvgmError`; the CLI prints its message on one line and
exits with a non-zero status instead of showing a traceback.
"""


class MlvgmError(Exception):
    """Base class of every error caused by user input."""


class ConfigError(MlvgmError):
    """An option or configuration value is unknown, of the wrong type or out of range."""


class DataError(MlvgmError):
    """A dataset is missing, unreadable, empty or malformed."""


class CheckpointError(MlvgmError):
    """A checkpoint is missing, corrupt or made for another architecture."""


class InputError(MlvgmError):
    """A tensor passed to the library has the wrong shape, range or values."""
