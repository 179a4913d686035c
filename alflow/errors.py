"""Domain exceptions. Each message says what is wrong and what to do next.

The CLI is the only place that turns them into exit codes.
"""


class AlflowError(Exception):
    """Base of every error alflow raises on purpose."""


class ConfigError(AlflowError, ValueError):
    """The campaign file is missing, malformed or names something that does not exist."""


class DataValidationError(AlflowError, ValueError):
    """A pool, label file or delivery broke a validation rule; nothing was ingested.

    `reason` is the machine-readable code a quarantine records: `missing_column` when a required
    column is absent, `unreadable` when the file cannot be read, `rule_failed` for a broken rule.
    """

    def __init__(self, message: str, *, reason: str = "rule_failed") -> None:
        super().__init__(message)
        self.reason = reason


class AlreadyExistsError(AlflowError, FileExistsError):
    """A write-once key is already taken."""


class ServiceUnavailableError(AlflowError, ConnectionError):
    """A service (the bucket's endpoint, a tracking or Prefect server) did not answer; trying again later may work."""


class RoundConflictError(AlflowError, RuntimeError):
    """Another run recorded the same round first."""


class ModelError(AlflowError, ValueError):
    """The model cannot be built or trained on the labels at hand."""


class LinkRefusedError(AlflowError, PermissionError):
    """A folder store's key is a symbolic link (or passes through one): never followed."""


class NotAFileError(LinkRefusedError):
    """A folder store's key is not a regular file (a FIFO, a socket, a device): never opened."""
