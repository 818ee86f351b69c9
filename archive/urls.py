from django.urls import path

from archive import views

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<str:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<str:project_id>/users/", views.project_users, name="project-users"),
    path(
        "projects/<str:project_id>/users/<str:username>/",
        views.project_user_change,
        name="project-user-change",
    ),
]
