"""Errors that mean "the user's input is wrong", shown as one line, never a traceback."""


class NoizenetError(Exception):
    """Bad input from a user: the CLI prints the message on one line and exits with 2."""


class ConfigError(NoizenetError):
    """A config file or override names an unknown key, a wrong type or a bad value."""


class DataError(NoizenetError):
    """Data that cannot be read or is unusable (missing path, empty corpus, ...)."""


class PluginError(NoizenetError):
    """An unknown plugin name, two plugins with one name, or a plugin that fails to load."""


class RunDirError(NoizenetError):
    """A folder that is not a run, or a run whose files are damaged."""


class RequestError(NoizenetError):
    """A request to ``noizenet serve`` that cannot be served as asked: ``status`` is
    the HTTP answer (4xx: the request's fault)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
