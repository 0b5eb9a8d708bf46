"""``python -m examples.sample_service``: serve until SIGTERM; see README.md."""

from __future__ import annotations

from .config import parse_args
from .server import serve

if __name__ == "__main__":
    raise SystemExit(serve(parse_args()))
