"""The one exception type of the migration and rollback tools."""

from __future__ import annotations


class MigrationError(Exception):
    """A refusal or failure; ``str()`` is a one-line message fit for a terminal."""
