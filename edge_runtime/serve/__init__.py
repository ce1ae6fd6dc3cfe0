"""brainedge-serve: a web page and an HTTP API in front of loaded bundles (``pip install brainedge[serve]``).

Only this package imports FastAPI and uvicorn; ``cli`` checks they are installed before importing
``app``, so a device with ``[edge]`` alone gets one line saying what to install.
"""
