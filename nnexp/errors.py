"""Errors nnexp reports to the user as one line (no traceback)."""


class NnexpError(Exception):
    """Base of the errors whose message alone tells the user what is wrong and what is allowed."""


class ConfigError(NnexpError, ValueError):
    """A configuration value is invalid; the message names the key, the value and what is allowed."""


class DataFileError(NnexpError, ValueError):
    """A data file is missing, damaged or not what it should be."""


class DataUnavailableError(NnexpError, RuntimeError):
    """The data set could not be found locally nor downloaded."""


class ReportError(NnexpError, ValueError):
    """The report cannot be built; the message says why and what is expected."""
