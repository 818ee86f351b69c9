"""The browser UI's archive pages: thin views that parse the request, call one service or query, and
show the result. Access is decided by xnatlite/permissions.py only.

common.py    errors as pages, pagination, the project title bar (shared by every UI app)
projects.py  sign in, projects, a project's sessions and subjects, settings, users, history
browse.py    subject, session and scan pages, downloads
changes.py   creating subjects and sessions by hand, relabelling, deleting (with a confirmation page)
resources.py uploading files into a project's, subject's, session's or scan's resources
"""

from archive.views.browse import (
    file_download,
    project_file_download,
    project_resources,
    scan_detail,
    session_detail,
    session_download,
    session_scans_edit,
    subject_detail,
    subject_file_download,
)
from archive.views.changes import (
    file_delete,
    project_file_delete,
    project_resource_delete,
    scan_delete,
    scan_resource_delete,
    session_create,
    session_delete,
    session_relabel,
    session_resource_delete,
    subject_create,
    subject_delete,
    subject_file_delete,
    subject_relabel,
    subject_resource_delete,
)
from archive.views.common import (
    forbidden,
    header_of,
    history_rows,
    page,
    paginate,
    project_context,
    readable_project,
    uploads_to_disk,
)
from archive.views.projects import (
    home,
    project_alias,
    project_create,
    project_delete,
    project_detail,
    project_history,
    project_list,
    project_requests,
    project_settings,
    project_user_change,
    project_users,
    search,
    subject_list,
)
from archive.views.resources import (
    project_resource_upload,
    scan_resource_upload,
    session_resource_upload,
    subject_resource_upload,
)

__all__ = [
    "file_delete",
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
    "project_delete",
    "project_requests",
    "project_detail",
    "project_file_delete",
    "project_file_download",
    "project_history",
    "project_list",
    "project_resource_delete",
    "project_resource_upload",
    "project_resources",
    "project_settings",
    "project_user_change",
    "project_users",
    "readable_project",
    "scan_delete",
    "scan_detail",
    "scan_resource_delete",
    "scan_resource_upload",
    "session_create",
    "session_delete",
    "session_detail",
    "session_download",
    "session_relabel",
    "session_resource_delete",
    "session_resource_upload",
    "session_scans_edit",
    "subject_create",
    "subject_delete",
    "subject_detail",
    "subject_file_delete",
    "subject_file_download",
    "search",
    "subject_list",
    "subject_relabel",
    "subject_resource_delete",
    "subject_resource_upload",
    "uploads_to_disk",
]
