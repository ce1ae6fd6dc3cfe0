"""What the API answers when it refuses a request: an HTTP status and one message in the user's terms."""

from __future__ import annotations


class ApiError(Exception):
    """Sent as ``{"error": message}`` with ``status`` (and ``headers``, e.g. Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
