"""URLs of the XNAT-compatible API: one pattern and one view per endpoint.

Every pattern matches with or without a trailing slash (clients use both; APPEND_SLASH would answer
301); `/data/archive/X` is `/data/X`, and `/REST/` is `/data/` (xnat-rest-api.md §1 rule 1). Subjects
are named under their project or alone (by accession ID), experiments under their subject, their
project or alone; resources and files hang from a project, subject, experiment or scan. Any other
path under `/data/`, `/REST/` or `/xapi/` is a plain-text 404.
"""

from django.urls import re_path

from xnatapi.views import (
    auth,
    config,
    experiments,
    imports,
    prearchive,
    projects,
    resources,
    scans,
    services,
    site,
    subjects,
)

DATA = r"^(?:data|REST)/(?:archive/)?"
END = r"/?$"

# What a URL names, as named groups the views receive.
PROJECT = r"projects/(?P<project>[^/]+)"
SUBJECT = r"(?:projects/(?P<project>[^/]+)/)?subjects/(?P<subject>[^/]+)"
EXPERIMENT = (
    r"(?:projects/(?P<project>[^/]+)/)?(?:subjects/(?P<subject>[^/]+)/)?experiments/(?P<experiment>[^/]+)"
)
SCAN = EXPERIMENT + r"/scans/(?P<scan>[^/]+)"  # in `.../files` also `1,2`, `ALL` or a type
RESOURCE = r"/resources/(?P<resource>[^/]+)"
FILE = r"/files/(?P<path>.+?)"  # a path in the resource: `notes/hello.txt`
PREARCHIVE = r"^(?:data|REST)/prearchive/projects"
PREARCHIVE_SESSION = PREARCHIVE + r"/(?P<project>[^/]+)/(?P<timestamp>[^/]+)/(?P<folder>[^/]+)"
PREARCHIVE_SCAN = PREARCHIVE_SESSION + r"/scans/(?P<scan>[^/]+)"


def data(route: str, view, name: str):
    """An endpoint under `/data/`, `/data/archive/` and `/REST/`."""
    return re_path(DATA + route + END, view, name=name)


urlpatterns = [
    # Signing in and out, alias tokens
    data(r"JSESSION", auth.jsession, "api-jsession"),
    data(r"auth", auth.auth_check, "api-auth"),
    data(r"services/auth", auth.services_auth, "api-services-auth"),
    data(r"services/tokens/issue", auth.token_issue, "api-token-issue"),
    data(
        r"services/tokens/invalidate/(?P<alias>[^/]+)(?:/(?P<secret>[^/]+))?",
        auth.token_invalidate,
        "api-token-invalidate",
    ),
    data(
        r"services/tokens/validate/(?P<alias>[^/]+)/(?P<secret>[^/]+)",
        auth.token_validate,
        "api-token-validate",
    ),
    # Services
    data(r"services/import", imports.import_service, "api-import"),
    data(r"services/archive", services.archive, "api-archive"),
    data(r"services/validate-archive", services.validate_archive, "api-validate-archive"),
    data(r"services/prearchive/move", services.prearchive_move, "api-prearchive-move"),
    data(r"services/prearchive/delete", services.prearchive_delete, "api-prearchive-delete"),
    data(r"services/prearchive/rebuild", services.prearchive_rebuild, "api-prearchive-rebuild"),
    # The prearchive
    re_path(PREARCHIVE + r"(?:/(?P<projects>[^/]+))?" + END, prearchive.listing, name="api-prearchive"),
    re_path(PREARCHIVE_SESSION + END, prearchive.SessionDetail.as_view(), name="api-prearchive-session"),
    re_path(PREARCHIVE_SESSION + r"/scans" + END, prearchive.ScanList.as_view(), name="api-prearchive-scans"),
    re_path(PREARCHIVE_SCAN + END, prearchive.ScanDetail.as_view(), name="api-prearchive-scan"),
    re_path(
        PREARCHIVE_SCAN + r"/resources" + END,
        prearchive.ResourceList.as_view(),
        name="api-prearchive-resources",
    ),
    re_path(
        PREARCHIVE_SCAN + RESOURCE + r"/files" + END,
        prearchive.FileList.as_view(),
        name="api-prearchive-files",
    ),
    re_path(
        PREARCHIVE_SCAN + RESOURCE + FILE + END, prearchive.FileDetail.as_view(), name="api-prearchive-file"
    ),
    # What clients read while connecting, and the anonymization scripts
    data(r"version", site.version, "api-version"),
    data(r"search/elements", site.search_elements, "api-search-elements"),
    data(r"search/elements/(?P<name>[^/]+)", site.search_element_fields, "api-search-element"),
    data(r"config/anon/script", config.site_script, "api-config-anon"),
    data(
        PROJECT + r"/config/anon/projects/(?P<again>[^/]+)", config.project_script, "api-config-anon-project"
    ),
    # Projects, their settings and users
    data(r"projects", projects.ProjectList.as_view(), "api-projects"),
    data(PROJECT, projects.ProjectDetail.as_view(), "api-project"),
    data(
        PROJECT + r"/accessibility(?:/(?P<value>[^/]+))?", projects.accessibility, "api-project-accessibility"
    ),
    data(
        PROJECT + r"/prearchive_code(?:/(?P<value>[^/]+))?",
        projects.prearchive_code,
        "api-project-prearchive-code",
    ),
    data(PROJECT + r"/users", projects.users, "api-project-users"),
    data(PROJECT + r"/users/(?P<group>[^/]+)/(?P<username>[^/]+)", projects.user_role, "api-project-user"),
    # Subjects, experiments, scans
    data(r"(?:projects/(?P<project>[^/]+)/)?subjects", subjects.SubjectList.as_view(), "api-subjects"),
    data(SUBJECT, subjects.SubjectDetail.as_view(), "api-subject"),
    data(
        r"(?:projects/(?P<project>[^/]+)/)?(?:subjects/(?P<subject>[^/]+)/)?experiments",
        experiments.ExperimentList.as_view(),
        "api-experiments",
    ),
    data(EXPERIMENT, experiments.ExperimentDetail.as_view(), "api-experiment"),
    data(EXPERIMENT + r"/scans", scans.ScanList.as_view(), "api-scans"),
    data(SCAN, scans.ScanDetail.as_view(), "api-scan"),
    data(SCAN + r"/files", scans.ScanFiles.as_view(), "api-scan-files"),
    data(SCAN + FILE, scans.ScanFile.as_view(), "api-scan-file"),
    # Resources and their files, by owner
    data(PROJECT + r"/resources", resources.ResourceList.as_view(), "api-project-resources"),
    data(PROJECT + RESOURCE, resources.ResourceDetail.as_view(), "api-project-resource"),
    data(PROJECT + RESOURCE + r"/files", resources.ResourceFiles.as_view(), "api-project-resource-files"),
    data(PROJECT + RESOURCE + FILE, resources.ResourceFile.as_view(), "api-project-resource-file"),
    data(SUBJECT + r"/resources", resources.ResourceList.as_view(), "api-subject-resources"),
    data(SUBJECT + RESOURCE, resources.ResourceDetail.as_view(), "api-subject-resource"),
    data(SUBJECT + RESOURCE + r"/files", resources.ResourceFiles.as_view(), "api-subject-resource-files"),
    data(SUBJECT + RESOURCE + FILE, resources.ResourceFile.as_view(), "api-subject-resource-file"),
    data(EXPERIMENT + r"/resources", resources.ResourceList.as_view(), "api-experiment-resources"),
    data(EXPERIMENT + RESOURCE, resources.ResourceDetail.as_view(), "api-experiment-resource"),
    data(
        EXPERIMENT + RESOURCE + r"/files", resources.ResourceFiles.as_view(), "api-experiment-resource-files"
    ),
    data(EXPERIMENT + RESOURCE + FILE, resources.ResourceFile.as_view(), "api-experiment-resource-file"),
    data(SCAN + r"/resources", resources.ResourceList.as_view(), "api-scan-resources"),
    data(SCAN + RESOURCE, resources.ResourceDetail.as_view(), "api-scan-resource"),
    data(SCAN + RESOURCE + r"/files", resources.ResourceFiles.as_view(), "api-scan-resource-files"),
    data(SCAN + RESOURCE + FILE, resources.ResourceFile.as_view(), "api-scan-resource-file"),
    # The files of all an owner's resources (a scan's: `SCAN + /files` above)
    data(PROJECT + r"/files", resources.OwnerFiles.as_view(), "api-project-files"),
    data(PROJECT + FILE, resources.OwnerFile.as_view(), "api-project-file"),
    data(SUBJECT + r"/files", resources.OwnerFiles.as_view(), "api-subject-files"),
    data(SUBJECT + FILE, resources.OwnerFile.as_view(), "api-subject-file"),
    data(EXPERIMENT + r"/files", resources.OwnerFiles.as_view(), "api-experiment-files"),
    data(EXPERIMENT + FILE, resources.OwnerFile.as_view(), "api-experiment-file"),
    # /xapi/
    re_path(r"^xapi/siteConfig/buildInfo" + END, site.build_info, name="api-build-info"),
    re_path(r"^xapi/access/projects" + END, site.access_projects, name="api-access-projects"),
    re_path(r"^xapi/schemas" + END, site.schema_list, name="api-schemas"),
    re_path(r"^xapi/schemas/(?P<name>[^/]+)" + END, site.schema, name="api-schema"),
    # Anything else: a plain-text 404, never Django's HTML page
    re_path(r"^(?P<path>(?:data|REST|xapi)(?:/.*)?)$", site.not_found, name="api-not-found"),
]
