"""The anonymization pages of the browser UI: a project's script and the site script."""

from django.urls import path

from anonymize import views

urlpatterns = [
    path("projects/<str:project_id>/anonymization/", views.project_script, name="project-script"),
    path("anonymization/site/", views.site_script, name="site-script"),
]
