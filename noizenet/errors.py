"""Errors that mean "the user's input is wrong", shown as one line, never a traceback."""

from __future__ import annotations


class NoizenetError(Exception):
    """Bad input from a user: the CLI prints the message on one line and exits with 2."""


class ConfigError(NoizenetError):
    """A config file or override names an unknown key, a wrong type or a bad value.
    ``keys``: the config keys (``SECTION.KEY``) it is about, where it names them, so
    that the command line can name the flag a value came from."""

    def __init__(self, message: str, *, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys

    @classmethod
    def about(cls, key: str, problem: str) -> ConfigError:
        """``KEY PROBLEM``, about ``key``: ``ConfigError.about("model.dropout", "must be
        in [0, 1), got 1.5")``."""
        return cls(f"{key} {problem}", keys=(key,))


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
