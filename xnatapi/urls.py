"""URLs of the XNAT-compatible API. Every pattern matches with or without a trailing slash (clients
use both; APPEND_SLASH would answer 301); `/data/archive/X` is `/data/X`, and `/REST/` is `/data/`
(xnat-rest-api.md §1 rule 1)."""

from django.urls import re_path

from xnatapi.views import archive, config, imports, prearchive, projects, services, site
from xnatapi.views import auth as auth_views

DATA = r"^(?:data|REST)/(?:archive/)?"
END = r"/?$"

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
    re_path(DATA + r"services/prearchive/(?P<action>move|delete|rebuild)" + END, services.prearchive_action),
    re_path(r"^(?:data|REST)/prearchive/projects" + END, prearchive.listing, name="api-prearchive"),
    re_path(r"^(?:data|REST)/prearchive/projects/(?P<projects>[^/]+)" + END, prearchive.listing),
    re_path(
        r"^(?:data|REST)/prearchive/projects/(?P<project>[^/]+)/(?P<timestamp>[^/]+)/(?P<folder>[^/]+)"
        r"(?P<rest>/.*)?$",
        prearchive.session_view,
        name="api-prearchive-session",
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
