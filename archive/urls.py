"""The browser UI's project pages. Subjects and sessions are named by label or accession ID.

Pages that change or delete live under fixed words (`relabel/`, `delete/`, `new-subject/`) that can
never be confused with a label at the same level.
"""

from django.urls import path

from archive import views

P = "projects/<str:project_id>/"
SUBJECT = P + "subjects/<str:subject>/"
SESSION = P + "sessions/<str:session>/"
SCAN = SESSION + "scans/<str:scan_id>/"

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("search/", views.search, name="search"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/requests/", views.project_requests, name="project-requests"),
    path(P, views.project_detail, name="project-detail"),
    path(P + "new-subject/", views.subject_create, name="subject-create"),
    path(P + "subjects/", views.subject_list, name="subject-list"),
    path(SUBJECT, views.subject_detail, name="subject-detail"),
    path(SUBJECT + "relabel/", views.subject_relabel, name="subject-relabel"),
    path(SUBJECT + "delete/", views.subject_delete, name="subject-delete"),
    path(SUBJECT + "new-session/", views.session_create, name="session-create"),
    path(SUBJECT + "resources/", views.subject_resource_upload, name="subject-resource-upload"),
    path(
        SUBJECT + "resources/<str:resource>/delete/",
        views.subject_resource_delete,
        name="subject-resource-delete",
    ),
    path(SUBJECT + "files/<int:file_id>/", views.subject_file_download, name="subject-file-download"),
    path(SUBJECT + "files/<int:file_id>/delete/", views.subject_file_delete, name="subject-file-delete"),
    path(SESSION, views.session_detail, name="session-detail"),
    path(SESSION + "relabel/", views.session_relabel, name="session-relabel"),
    path(SESSION + "delete/", views.session_delete, name="session-delete"),
    path(SESSION + "resources/", views.session_resource_upload, name="session-resource-upload"),
    path(
        SESSION + "resources/<str:resource>/delete/",
        views.session_resource_delete,
        name="session-resource-delete",
    ),
    path(SESSION + "scans/", views.session_scans_edit, name="session-scans-edit"),
    path(SCAN, views.scan_detail, name="scan-detail"),
    path(SCAN + "delete/", views.scan_delete, name="scan-delete"),
    path(SCAN + "resources/", views.scan_resource_upload, name="scan-resource-upload"),
    path(SCAN + "resources/<str:resource>/delete/", views.scan_resource_delete, name="scan-resource-delete"),
    path(SESSION + "files/<int:file_id>/", views.file_download, name="file-download"),
    path(SESSION + "files/<int:file_id>/delete/", views.file_delete, name="file-delete"),
    path(SESSION + "download/", views.session_download, name="session-download"),
    path(P + "resources/", views.project_resources, name="project-resources"),
    path(P + "resources/upload/", views.project_resource_upload, name="project-resource-upload"),
    path(
        P + "resources/<str:resource>/delete/", views.project_resource_delete, name="project-resource-delete"
    ),
    path(P + "files/<int:file_id>/", views.project_file_download, name="project-file-download"),
    path(P + "files/<int:file_id>/delete/", views.project_file_delete, name="project-file-delete"),
    path(P + "settings/", views.project_settings, name="project-settings"),
    path(P + "delete/", views.project_delete, name="project-delete"),
    path(P + "settings/aliases/", views.project_alias, name="project-alias"),
    path(P + "history/", views.project_history, name="project-history"),
    path(P + "users/", views.project_users, name="project-users"),
    path(P + "users/<str:username>/", views.project_user_change, name="project-user-change"),
]
