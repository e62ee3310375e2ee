"""The one error hierarchy of mlmon.

Core code raises these; the CLI catches them in one place, prints one line on
stderr and exits with ``exit_code``. Anything else reaching the user is a bug.
"""

from __future__ import annotations


class MlmonError(Exception):
    """An error the user can fix: a message, and a hint that says how."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = list(details or [])

    def __str__(self) -> str:
        if self.hint:
            sep = " " if self.message.endswith(("?", "!", ".")) else ". "
            return f"{self.message}{sep}{self.hint}"
        return self.message


class UsageError(MlmonError):
    """A command-line option has a bad value."""


class ConfigError(MlmonError):
    """A mapping or rules file is invalid."""


class InputError(MlmonError):
    """Log input cannot be found, opened or read."""
