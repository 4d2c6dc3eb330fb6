"""Exceptions raised by the sonar package. Every message is the Rust library's own, with its
causes. Each class also derives from the built-in exception a caller of the reference library
(or of plain Python) would catch."""


class SonarError(Exception):
    """Base class of every sonar error."""


class ConfigError(SonarError, ValueError):
    """A config or scenario value is wrong (the message names the file and key path)."""


class ModelNotFoundError(SonarError, FileNotFoundError):
    """No model where one was expected (train and save first)."""


class ModelFileError(SonarError, ValueError):
    """A model file is unreadable, corrupt or from an incompatible version."""


class ColumnMismatchError(SonarError, ValueError):
    """The columns to score differ from the trained ones (the message names them)."""


class NotEnoughDataError(SonarError, ValueError):
    """Too few rows to train or to score."""


class InvalidParameterError(SonarError, ValueError):
    """An MVAD parameter is unknown, of the wrong type or out of range."""


class DataFormatError(SonarError, ValueError):
    """Input data is malformed (ragged, non-numeric, infinite, duplicate columns)."""


class IndexerError(SonarError, ConnectionError):
    """The Wazuh indexer could not be reached or refused a request."""


__all__ = [
    "SonarError",
    "ConfigError",
    "ModelNotFoundError",
    "ModelFileError",
    "ColumnMismatchError",
    "NotEnoughDataError",
    "InvalidParameterError",
    "DataFormatError",
    "IndexerError",
]
