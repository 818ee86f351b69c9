"""URLs: the browser UI, Django admin for site admins, and (as it lands) the XNAT-compatible API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from archive import views as archive_views
from xnatlite import views as site_views

admin.site.index_template = "admin/xnatlite_index.html"  # with a link to the site status page
admin.site.site_header = "xnatlite administration"
admin.site.site_title = "xnatlite"
admin.site.index_title = "Accounts, projects, receivers, scripts and the audit log"

urlpatterns = [
    path("", archive_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("health", site_views.health, name="health"),
    path("favicon.ico", site_views.favicon, name="favicon"),
    path("admin/status/", site_views.status, name="site-status"),
    path("admin/", admin.site.urls),
    path("", include("pipelines.urls")),  # before the API's catch-all 404 under /xapi/
    path("", include("xnatapi.urls")),  # /data/, /REST/, /xapi/: the XNAT-compatible API
    path("", include("dicomweb.urls")),  # /dicomweb/: QIDO-RS, WADO-RS, STOW-RS
    path("", include("archive.urls")),
    path("", include("anonymize.urls")),
    path("", include("prearchive.urls")),
]
