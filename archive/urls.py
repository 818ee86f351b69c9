"""The browser UI's project pages. Subjects and sessions are named by label or accession ID."""

from django.urls import path

from archive import views

P = "projects/<str:project_id>/"
SESSION = P + "sessions/<str:session>/"

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path(P, views.project_detail, name="project-detail"),
    path(P + "subjects/", views.subject_list, name="subject-list"),
    path(P + "subjects/<str:subject>/", views.subject_detail, name="subject-detail"),
    path(SESSION, views.session_detail, name="session-detail"),
    path(SESSION + "scans/", views.session_scans_edit, name="session-scans-edit"),
    path(SESSION + "scans/<str:scan_id>/", views.scan_detail, name="scan-detail"),
    path(SESSION + "files/<int:file_id>/", views.file_download, name="file-download"),
    path(SESSION + "download/", views.session_download, name="session-download"),
    path(P + "settings/", views.project_settings, name="project-settings"),
    path(P + "settings/aliases/", views.project_alias, name="project-alias"),
    path(P + "history/", views.project_history, name="project-history"),
    path(P + "users/", views.project_users, name="project-users"),
    path(P + "users/<str:username>/", views.project_user_change, name="project-user-change"),
]
