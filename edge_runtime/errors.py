"""User-facing errors: the CLIs print these as one line, never a traceback."""


class BrainEdgeError(Exception):
    """Bad input the user can fix: a corrupt image, a wrong model, a missing label file."""
