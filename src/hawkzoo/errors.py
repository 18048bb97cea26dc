"""The errors hawkzoo raises. Each names what is wrong and what is allowed; the commands
print one as a single line and exit with its `exit_code`. Each also subclasses the
built-in error it refines, so `except ValueError` still catches a bad setting."""


class HawkzooError(Exception):
    """Base of hawkzoo's own errors."""

    exit_code = 2


class InputError(HawkzooError, ValueError):
    """A setting, an argument or an input array that is not allowed."""


class InputTypeError(InputError, TypeError):
    """An input of a type that is not allowed (a float where ids go, say)."""


class MissingPathError(HawkzooError, FileNotFoundError):
    """A file or folder that was named but does not exist."""


class ExistingPathError(HawkzooError, FileExistsError):
    """A path that holds something hawkzoo will not overwrite."""


class MissingDependencyError(HawkzooError, ImportError):
    """An optional package that this input needs and that is not installed."""


class CheckpointError(HawkzooError, ValueError):
    """A checkpoint that cannot be read: missing files, an unknown format, corrupt bytes."""


class RunFailure(HawkzooError, RuntimeError):
    """A run that failed on valid input: the loss diverged, or a save failed."""

    exit_code = 1
