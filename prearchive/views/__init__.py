"""The browser UI's prearchive pages: lists and session pages with their actions (pages.py), Review
and Archive (review.py) and the upload page (upload.py)."""

from prearchive.views.pages import (
    bulk_action,
    project_prearchive,
    session_action,
    session_detail,
    session_url,
    site_prearchive,
)
from prearchive.views.review import (
    identity_warnings,
    kept_fields,
    looks_like_name,
    looks_like_record_number,
    review,
)
from prearchive.views.upload import upload

__all__ = [
    "bulk_action",
    "identity_warnings",
    "kept_fields",
    "looks_like_name",
    "looks_like_record_number",
    "project_prearchive",
    "review",
    "session_action",
    "session_detail",
    "session_url",
    "site_prearchive",
    "upload",
]
