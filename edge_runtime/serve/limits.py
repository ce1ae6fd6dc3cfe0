"""The server's default limits, shared by the app and the command line (which must not import FastAPI first)."""

DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_PLACES = 8
"""Requests one bundle holds at once (being uploaded, decoded, waiting or running): what bounds memory."""
UPLOAD_SECONDS = 60.0
"""A client slower than this to send its image gives its place back (408)."""
