"""The anonymization pages of the browser UI."""

from django.urls import path

from anonymize import views

urlpatterns = [
    path("projects/<str:project_id>/anonymization/", views.project_script, name="project-script"),
]
