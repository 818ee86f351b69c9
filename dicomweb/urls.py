"""DICOMweb's URLs (PS3.18 10.4, 10.6, 10.5), at the site root `/dicomweb/` and, limited to one project,
at `/dicomweb/projects/{project}/`."""

from django.urls import path

from dicomweb import views

INSTANCE = "studies/<str:study>/series/<str:series>/instances/<str:instance>"

services = [
    ("studies", views.studies, "studies"),
    ("series", views.all_series, "series"),
    ("instances", views.all_instances, "instances"),
    ("studies/<str:study>", views.retrieve, "study"),
    ("studies/<str:study>/metadata", views.metadata, "study-metadata"),
    ("studies/<str:study>/series", views.study_series, "study-series"),
    ("studies/<str:study>/instances", views.study_instances, "study-instances"),
    ("studies/<str:study>/series/<str:series>", views.retrieve, "series"),
    ("studies/<str:study>/series/<str:series>/metadata", views.metadata, "series-metadata"),
    ("studies/<str:study>/series/<str:series>/instances", views.series_instances, "series-instances"),
    (INSTANCE, views.retrieve, "instance"),
    (f"{INSTANCE}/metadata", views.metadata, "instance-metadata"),
    (f"{INSTANCE}/bulkdata/<str:tag>", views.bulkdata, "bulkdata"),
    (f"{INSTANCE}/frames/<str:numbers>", views.frames, "frames"),
    (f"{INSTANCE}/rendered", views.rendered, "rendered"),
    (f"{INSTANCE}/thumbnail", views.thumbnail, "thumbnail"),
]

urlpatterns = [path(f"dicomweb/{route}", view, name=f"dicomweb-{name}") for route, view, name in services] + [
    path(f"dicomweb/projects/<str:project>/{route}", view, name=f"dicomweb-project-{name}")
    for route, view, name in services
]
