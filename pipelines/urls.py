"""Pipelines' URLs: the pages, and the Container Service's `/xapi/` endpoints."""

from django.urls import path, re_path

from pipelines.views import api, pages

XAPI = r"^xapi/(?:projects/(?P<project>[^/]+)/)?"
END = r"/?$"

urlpatterns = [
    path(
        "projects/<str:project_id>/sessions/<str:session>/pipelines/launch/",
        pages.launch,
        name="pipeline-launch",
    ),
    path("pipelines/runs/<int:run_id>/", pages.run_detail, name="pipeline-run"),
    path("pipelines/runs/<int:run_id>/cancel/", pages.run_cancel, name="pipeline-run-cancel"),
    path("pipelines/runs/<int:run_id>/again/", pages.run_again, name="pipeline-run-again"),
    re_path(
        XAPI + r"commands/(?P<command>[^/]+)/wrappers/(?P<wrapper>[^/]+)/launch" + END,
        api.launch,
        name="api-launch",
    ),
    re_path(XAPI + r"wrappers/(?P<wrapper>[^/]+)/launch" + END, api.launch, name="api-wrapper-launch"),
    re_path(XAPI + r"containers" + END, api.containers, name="api-containers"),
    re_path(r"^xapi/containers/(?P<run_id>\d+)" + END, api.container, name="api-container"),
    re_path(
        r"^xapi/containers/(?P<run_id>\d+)/logs/(?:stdout|stderr)" + END,
        api.container_log,
        name="api-container-log",
    ),
]
