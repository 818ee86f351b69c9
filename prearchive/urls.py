"""The browser UI's prearchive and upload pages."""

from django.urls import path

from prearchive import views

SESSION = "prearchive/<str:project>/<str:timestamp>/<str:folder>/"

urlpatterns = [
    path("prearchive/", views.site_prearchive, name="prearchive"),
    path("projects/<str:project_id>/prearchive/", views.project_prearchive, name="prearchive-project"),
    path("prearchive/actions/", views.bulk_action, name="prearchive-bulk"),
    path("prearchive/version/", views.listing_version, name="prearchive-version"),
    path(SESSION, views.session_detail, name="prearchive-session"),
    path(SESSION + "action/", views.session_action, name="prearchive-action"),
    path(SESSION + "review/", views.review, name="prearchive-review"),
    path("upload/", views.upload, name="upload"),
]
