"""The browser UI's prearchive pages: lists and session pages with their actions (pages.py), Review
and Archive (review.py) and the upload page (upload.py)."""

from prearchive.views.pages import (
    bulk_action,
    listing_version,
    project_prearchive,
    session_action,
    session_detail,
    session_url,
    site_prearchive,
)
from prearchive.views.review import review
from prearchive.views.upload import upload

__all__ = [
    "bulk_action",
    "listing_version",
    "project_prearchive",
    "review",
    "session_action",
    "session_detail",
    "session_url",
    "site_prearchive",
    "upload",
]
