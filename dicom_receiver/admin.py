"""Django admin for site admins: receivers and the site routing rules, with their syntax checked on save."""

from django.contrib import admin

from dicom_receiver.models import Receiver, SiteRoutingRules, forget_cached_rules


@admin.register(Receiver)
class ReceiverAdmin(admin.ModelAdmin):
    list_display = ("ae_title", "port", "enabled", "anonymization_enabled", "description", "updated_at")
    list_filter = ("enabled", "anonymization_enabled", "port")
    search_fields = ("ae_title", "description")
    fieldsets = (
        (None, {"fields": ("ae_title", "port", "enabled", "description", "anonymization_enabled")}),
        (
            "Routing expressions (xnat-spec.md §5.5), tried before the site rules and the DICOM fields",
            {"fields": ("project_routing", "subject_routing", "session_routing")},
        ),
        ("Who may send", {"fields": ("whitelist",)}),
    )


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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_cached_rules()
