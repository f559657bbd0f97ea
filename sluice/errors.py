"""Errors a user can meet. Each names what is wrong (file, row, field, setting) and how to fix it.

Messages never quote record contents: values from input data can hold PII.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base error: a message, optional list of problems, and a hint on how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = list(problems or [])

    def __reduce__(self):
        # Keep hint and problems when the error crosses a process boundary (worker pools).
        return (_rebuild, (type(self), self.message, self.hint, self.problems))

    def __str__(self) -> str:
        parts = [self.message]
        parts += [f"  - {p}" for p in self.problems]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class SchemaValidationError(SluiceError):
    """A table does not match its record kind."""


class DatasetNotFound(SluiceError):
    """A dataset reference names no published version."""


class PublishConflict(SluiceError):
    """Another writer published the version this one was about to take."""


class RecipeError(SluiceError):
    """A recipe or stage config is invalid; `problems` lists every error at once."""


class MissingDependency(SluiceError):
    """An optional package a stage needs is not installed."""


class InputError(SluiceError):
    """An input path is missing, unreadable or of an unknown format."""


class DataError(SluiceError):
    """The data itself failed a run-level check (all rows bad, --strict with quarantined rows)."""

    exit_code = 1


def _rebuild(cls, message, hint, problems):
    return cls(message, hint=hint, problems=problems)
