"""The one exception root of the ``facilities`` package."""

from __future__ import annotations

from pathlib import Path


class FacilityError(Exception):
    """Root of every error raised by :mod:`facilities`."""


class FacilityNotFoundError(FacilityError, KeyError):
    """A facility id that no definition directory holds."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FacilityValidationError(FacilityError, ValueError):
    """A facility definition that breaks a rule.

    Every message names the file, the feature, the field and the offending value.
    """

    def __init__(
        self,
        path: Path | str | None,
        feature: str,
        field: str,
        value: object,
        problem: str,
    ) -> None:
        self.path = str(path) if path is not None else "<memory>"
        self.feature = feature
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(
            f"{self.path}: feature {feature}: field '{field}' = {value!r}: {problem}"
        )


class GridError(FacilityError, ValueError):
    """A grid that cannot be built as asked (bad resolution, bad snap)."""


class DefinitionDirectoryError(FacilityError, FileNotFoundError):
    """A definition directory that was named but does not exist."""
