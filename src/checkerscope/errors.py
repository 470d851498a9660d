"""The package's one error type."""

from __future__ import annotations

__all__ = ["CheckerscopeError"]


class CheckerscopeError(ValueError):
    """Raised for any input checkerscope cannot work with.

    The message is one line that names the offending value or shape, so the
    command-line interface can print it as is.

    Examples:
        >>> raise CheckerscopeError("expected (H, W), got shape (2, 3, 4, 5, 6)")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: expected (H, W), got shape (2, 3, 4, 5, 6)
    """
