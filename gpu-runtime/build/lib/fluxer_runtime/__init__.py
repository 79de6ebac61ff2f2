"""fluxer's GPU runtime: the worker that turns queued jobs into images on a node."""

__version__ = "0.1.0"
