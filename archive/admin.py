"""Django admin for site admins: every archive model, with the searches and filters admins use.

Writes that have rules (creating projects and subjects, which makes groups and accession IDs) go
through xnatlite/projects.py and archive/services/, so the admin can never disagree with the pages or the API.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from guardian.admin import GuardedModelAdmin

from archive.models import AccessionCounter, File, ImageSession, Resource, Scan, Subject
from archive.services.subjects import SUBJECT_FIELDS, create_subject
from xnatlite import audit, jobs, projects
from xnatlite.errors import XnatliteError
from xnatlite.models import AuditEvent, Project, ProjectAlias, ProjectRequest


class ProjectAliasInline(admin.TabularInline):
    model = ProjectAlias
    extra = 0


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ("id", "name", "accessibility", "prearchive_code", "created_at", "created_by")
    list_filter = ("accessibility", "prearchive_code")
    search_fields = ("id", "name", "secondary_id", "keywords", "aliases__alias", "pi")
    inlines = [ProjectAliasInline]
    readonly_fields = ("created_at", "updated_at", "created_by")

    def get_readonly_fields(self, request, obj=None):
        # The project ID names folders on disk and is never changeable (xnat-spec.md §1.2).
        return (*self.readonly_fields, "id") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {
            f: form.cleaned_data[f]
            for f in (
                "name",
                "secondary_id",
                "description",
                "keywords",
                "pi",
                "accessibility",
                "prearchive_code",
            )
            if f in form.cleaned_data
        }
        try:
            if change:
                projects.update_project(Project.objects.get(pk=obj.pk), by=request.user, **fields)
                obj.refresh_from_db()
            else:
                created = projects.create_project(obj.id, by=request.user, **fields)
                obj.__dict__.update(created.__dict__)
                obj._state.adding = False
        except XnatliteError as exc:
            raise ValidationError(exc.message) from exc

    def save_formset(self, request, form, formset, change):
        # Aliases share the project ID namespace, so they go through the service that checks it.
        instances = formset.save(commit=False)
        try:
            for deleted in formset.deleted_objects:
                projects.remove_project_alias(form.instance, deleted.alias, by=request.user)
            for alias in instances:
                if alias.pk:
                    projects.remove_project_alias(
                        form.instance, ProjectAlias.objects.get(pk=alias.pk).alias, by=request.user
                    )
                projects.add_project_alias(form.instance, alias.alias, by=request.user)
        except XnatliteError as exc:
            raise ValidationError(exc.message) from exc


@admin.register(ProjectRequest)
class ProjectRequestAdmin(admin.ModelAdmin):
    """Requests for projects (XNATLITE_PROJECT_CREATION=admins), decided here or on the Project
    requests page; both go through xnatlite/projects.py, which creates the project and audits."""

    list_display = (
        "requested_id",
        "name",
        "requested_by",
        "created_at",
        "status",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status",)
    search_fields = ("requested_id", "name", "requested_by__username", "reason")
    readonly_fields = [f.name for f in ProjectRequest._meta.fields]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request):
        return False  # people request projects from the New project page

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve the selected requests (create the projects)")
    def approve(self, request, queryset):
        for asked in queryset:
            try:
                projects.approve_project_request(asked, by=request.user)
            except XnatliteError as exc:
                self.message_user(request, f"{asked.requested_id}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Project {asked.requested_id} created.", messages.SUCCESS)

    @admin.action(description="Refuse the selected requests")
    def refuse(self, request, queryset):
        for asked in queryset:
            try:
                projects.refuse_project_request(asked, by=request.user)
            except XnatliteError as exc:
                self.message_user(request, f"{asked.requested_id}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"The request for {asked.requested_id} is refused.", messages.SUCCESS
                )


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ("label", "project", "accession_id", "group", "created_at")
    list_filter = ("project",)
    search_fields = ("label", "accession_id", "project__id")
    readonly_fields = ("accession_id", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # Relabelling moves folders; it is done from the project pages, not here.
        return (*self.readonly_fields, "project", "label") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        extra = {
            f: form.cleaned_data[f] for f in SUBJECT_FIELDS if form.cleaned_data.get(f) not in (None, "")
        }
        try:
            created = create_subject(obj.project, obj.label, by=request.user, **extra)
        except XnatliteError as exc:
            raise ValidationError(exc.message) from exc
        obj.__dict__.update(created.__dict__)
        obj._state.adding = False


@admin.register(ImageSession)
class ImageSessionAdmin(admin.ModelAdmin):
    list_display = ("label", "project", "subject", "accession_id", "xsi_type", "modality", "date")
    list_filter = ("project", "xsi_type", "modality")
    search_fields = ("label", "accession_id", "study_instance_uid", "subject__label", "project__id")
    readonly_fields = (
        "project",
        "subject",
        "label",
        "accession_id",
        "study_instance_uid",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "date"
    actions = ["make_previews"]

    def has_add_permission(self, request):
        return False  # sessions arrive through the prearchive or the API

    @admin.action(description="Make the preview images of the selected sessions again")
    def make_previews(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for session_id in ids:
            jobs.enqueue("archive.tasks.make_previews", session_id, best_effort=True)
        audit.record(request.user, "archive.previews.requested", None, sessions=len(ids))
        self.message_user(request, f"Previews of {len(ids)} sessions are being made.")


@admin.register(Scan)
class ScanAdmin(admin.ModelAdmin):
    list_display = ("scan_id", "session", "type", "series_description", "modality", "frames", "quality")
    list_filter = ("quality", "modality", "session__project")
    search_fields = (
        "scan_id",
        "series_instance_uid",
        "session__label",
        "session__accession_id",
        "series_description",
    )
    readonly_fields = ("session", "scan_id", "series_instance_uid", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("label", "format", "content", "project", "subject", "session", "scan")
    list_filter = ("format", "label")
    search_fields = ("label", "session__label", "session__accession_id", "subject__label", "project__id")
    readonly_fields = ("project", "subject", "session", "scan", "label")

    def has_add_permission(self, request):
        return False


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ("name", "resource", "size", "md5", "sop_instance_uid")
    search_fields = ("name", "path", "sop_instance_uid", "md5")
    readonly_fields = [f.name for f in File._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "actor_name", "action", "object_type", "object_label", "project_id")
    list_filter = ("action", "object_type", "project_id")
    search_fields = ("actor_name", "action", "object_id", "object_label", "project_id")
    date_hierarchy = "timestamp"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessionCounter)
class AccessionCounterAdmin(admin.ModelAdmin):
    list_display = ("prefix", "last")
    readonly_fields = ("prefix", "last")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
