"""URLs of the XNAT-compatible API. Every pattern matches with or without a trailing slash (clients
use both; APPEND_SLASH would answer 301); `/data/archive/X` is `/data/X`, and `/REST/` is `/data/`
(xnat-rest-api.md §1 rule 1)."""

from django.urls import re_path

from xnatapi.views import archive, config, imports, prearchive, projects, services, site
from xnatapi.views import auth as auth_views

DATA = r"^(?:data|REST)/(?:archive/)?"
END = r"/?$"
PREARCHIVE = r"^(?:data|REST)/prearchive/projects"
PREARCHIVE_SESSION = PREARCHIVE + r"/(?P<project>[^/]+)/(?P<timestamp>[^/]+)/(?P<folder>[^/]+)"
PREARCHIVE_SCAN = PREARCHIVE_SESSION + r"/scans/(?P<scan>[^/]+)"

urlpatterns = [
    re_path(DATA + r"JSESSION" + END, auth_views.jsession, name="api-jsession"),
    re_path(DATA + r"auth" + END, auth_views.auth_check, name="api-auth"),
    re_path(DATA + r"version" + END, site.version, name="api-version"),
    re_path(DATA + r"services/auth" + END, auth_views.services_auth, name="api-services-auth"),
    re_path(DATA + r"services/tokens/issue" + END, auth_views.token_issue, name="api-token-issue"),
    re_path(
        DATA + r"services/tokens/invalidate/(?P<alias>[^/]+)(?:/(?P<secret>[^/]+))?" + END,
        auth_views.token_invalidate,
        name="api-token-invalidate",
    ),
    re_path(
        DATA + r"services/tokens/validate/(?P<alias>[^/]+)/(?P<secret>[^/]+)" + END,
        auth_views.token_validate,
        name="api-token-validate",
    ),
    re_path(DATA + r"services/import" + END, imports.import_service, name="api-import"),
    re_path(DATA + r"services/archive" + END, services.archive, name="api-archive"),
    re_path(
        DATA + r"services/validate-archive" + END, services.validate_archive, name="api-validate-archive"
    ),
    re_path(DATA + r"services/prearchive/move" + END, services.prearchive_move, name="api-prearchive-move"),
    re_path(
        DATA + r"services/prearchive/delete" + END, services.prearchive_delete, name="api-prearchive-delete"
    ),
    re_path(
        DATA + r"services/prearchive/rebuild" + END,
        services.prearchive_rebuild,
        name="api-prearchive-rebuild",
    ),
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
        PREARCHIVE_SCAN + r"/resources/(?P<resource>[^/]+)/files" + END,
        prearchive.FileList.as_view(),
        name="api-prearchive-files",
    ),
    re_path(
        PREARCHIVE_SCAN + r"/resources/(?P<resource>[^/]+)/files/(?P<path>.+?)" + END,
        prearchive.FileDetail.as_view(),
        name="api-prearchive-file",
    ),
    re_path(DATA + r"search/elements" + END, site.search_elements, name="api-search-elements"),
    re_path(DATA + r"search/elements/(?P<name>[^/]+)" + END, site.search_element_fields),
    re_path(DATA + r"config/anon/script" + END, config.site_script, name="api-config-anon"),
    re_path(
        DATA + r"projects/(?P<project>[^/]+)/config/anon/projects/(?P<again>[^/]+)" + END,
        config.project_script,
    ),
    re_path(
        DATA
        + r"projects/(?P<project>[^/]+)/(?P<name>accessibility|prearchive_code)(?:/(?P<value>[^/]+))?"
        + END,
        projects.setting,
    ),
    re_path(DATA + r"projects/(?P<project>[^/]+)/users" + END, projects.users, name="api-project-users"),
    re_path(
        DATA + r"projects/(?P<project>[^/]+)/users/(?P<group>[^/]+)/(?P<username>[^/]+)" + END,
        projects.user_role,
    ),
    re_path(DATA + r"(?P<path>(?:projects|subjects|experiments)(?:/.*)?)$", archive.tree, name="api-tree"),
    re_path(r"^xapi/siteConfig/buildInfo" + END, site.build_info, name="api-build-info"),
    re_path(r"^xapi/access/projects" + END, site.access_projects, name="api-access-projects"),
    re_path(r"^xapi/schemas" + END, site.schema_list, name="api-schemas"),
    re_path(r"^xapi/schemas/(?P<name>[^/]+)" + END, site.schema, name="api-schema"),
    re_path(r"^(?P<path>(?:data|REST|xapi)(?:/.*)?)$", site.not_found),
]
