"""The SQL catalog of files, cameras and state groups."""

from hpstore.store.catalog.db import Catalog, Photo
from hpstore.store.catalog.models import DUPLICATE, FAILED, INGESTED, SKIPPED, STATUSES, Camera, File, Group

__all__ = ["DUPLICATE", "FAILED", "INGESTED", "SKIPPED", "STATUSES", "Camera", "Catalog", "File", "Group", "Photo"]
