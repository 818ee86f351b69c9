"""The browser UI's archive pages: thin views that parse the request, call one service or query, and
show the result. Access is decided by archive/permissions.py only.

common.py    errors as pages, pagination, the project title bar (shared by every UI app)
projects.py  sign in, projects, a project's sessions and subjects, settings, users, history
browse.py    subject, session and scan pages, downloads
"""

from archive.views.browse import (
    file_download,
    scan_detail,
    session_detail,
    session_download,
    session_scans_edit,
    subject_detail,
)
from archive.views.common import (
    forbidden,
    header_of,
    history_rows,
    page,
    paginate,
    project_context,
    readable_project,
)
from archive.views.projects import (
    home,
    project_alias,
    project_create,
    project_detail,
    project_history,
    project_list,
    project_settings,
    project_user_change,
    project_users,
    subject_list,
)

__all__ = [
    "file_download",
    "forbidden",
    "header_of",
    "history_rows",
    "home",
    "page",
    "paginate",
    "project_alias",
    "project_context",
    "project_create",
    "project_detail",
    "project_history",
    "project_list",
    "project_settings",
    "project_user_change",
    "project_users",
    "readable_project",
    "scan_detail",
    "session_detail",
    "session_download",
    "session_scans_edit",
    "subject_detail",
    "subject_list",
]
