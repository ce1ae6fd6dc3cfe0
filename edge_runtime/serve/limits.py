"""The server's default limits, shared by the app and the command line (which must not import FastAPI first).

What they bound together, with the defaults: the bundles' resident memory, plus DEFAULT_DECODERS images
decoded at once of at most DEFAULT_MAX_PIXELS each (up to 12 bytes a pixel while a colour image is
decoded: ~190 MB each), plus per bundle DEFAULT_PLACES requests, each holding at most its upload and,
once decoded, only the model's input tensor (and a copy of at most 1024 px on the long side to draw
the overlay on).
"""

import os

DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_PLACES = 8
"""Requests one bundle holds at once (being uploaded, decoded, waiting or running): what bounds memory."""
UPLOAD_SECONDS = 60.0
"""A client slower than this to send its image gives its place back (408)."""
DEFAULT_MAX_PIXELS = 16_000_000
"""Largest image decoded (a 4000x4000 scan, a 12 MP phone photo of a film): a Pi's memory, not the runtime's 64 MP."""
DEFAULT_DECODERS = min(2, os.cpu_count() or 1)
"""Images decoded at once by the whole server, all bundles together: a decoded image is the largest thing in memory."""
