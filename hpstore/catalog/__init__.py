"""The SQL catalog of files, cameras and state groups."""

from .db import Catalog, Photo
from .models import DUPLICATE, FAILED, INGESTED, SKIPPED, STATUSES, Camera, File, Group

__all__ = ["DUPLICATE", "FAILED", "INGESTED", "SKIPPED", "STATUSES", "Camera", "Catalog", "File", "Group", "Photo"]
