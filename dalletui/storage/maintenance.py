"""Maintenance queries: integrity, pending rows, rows and files that disagree."""

from __future__ import annotations

from dalletui.storage.base import StoreBase


class MaintenanceStore(StoreBase):
    """What ``dalletui doctor`` asks of the database."""
