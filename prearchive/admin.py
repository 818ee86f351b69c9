"""Django admin for site admins: the prearchive table, to look at (changes go through the services), and
the site routing rules, with their syntax checked on save."""

from django.contrib import admin

from prearchive.models import PrearchiveFile, PrearchiveSession, SiteRoutingRules


class PrearchiveFileInline(admin.TabularInline):
    model = PrearchiveFile
    extra = 0
    can_delete = False
    fields = ("scan_id", "instance_number", "modality", "sop_instance_uid", "size", "path")
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PrearchiveSession)
class PrearchiveSessionAdmin(admin.ModelAdmin):
    list_display = (
        "project_name",
        "timestamp",
        "folder_name",
        "subject_label",
        "status",
        "file_count",
        "scan_count",
        "source",
        "last_modified",
    )
    list_filter = ("status", "auto_archive", "source", "prevent_anon")
    search_fields = ("project__id", "folder_name", "label", "subject_label", "study_instance_uid")
    list_select_related = ("project",)
    inlines = [PrearchiveFileInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SiteRoutingRules)
class SiteRoutingRulesAdmin(admin.ModelAdmin):
    fieldsets = (
        (
            None,
            {
                "description": "One rule per line: (gggg,eeee):regex[:group][ t:target r:replacement]. "
                "The regex must match the whole value (first 64 characters); the first rule that "
                "matches wins. Changes apply within a few seconds.",
                "fields": (
                    ("project_rules", "project_rules_enabled"),
                    ("subject_rules", "subject_rules_enabled"),
                    ("session_rules", "session_rules_enabled"),
                    ("aa_rules", "aa_rules_enabled"),
                ),
            },
        ),
    )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not SiteRoutingRules.objects.exists()
