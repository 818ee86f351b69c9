"""Django admin for site admins: receivers, with their syntax checked on save, and the instances the
receiver quarantined. The site routing rules are the prearchive's (prearchive/admin.py)."""

from django.contrib import admin

from dicom_receiver import quarantine
from dicom_receiver.models import QuarantinedInstance, Receiver
from xnatlite import permissions


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


@admin.register(QuarantinedInstance)
class QuarantinedInstanceAdmin(admin.ModelAdmin):
    """Instances the receiver acknowledged but could not process: process them again (once the cause,
    a failing site script say, is fixed) or delete them."""

    list_display = ("received_at", "receiver_ae", "calling_ae", "peer_address", "reason", "size")
    list_filter = ("receiver_ae", "calling_ae")
    search_fields = ("file_name", "reason", "calling_ae")
    readonly_fields = [f.name for f in QuarantinedInstance._meta.fields]
    actions = ["process_again", "delete_for_good"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # through the action below, which removes the file too

    def get_actions(self, request):
        actions = super().get_actions(request)
        return actions if permissions.is_site_admin(request.user) else {}

    @admin.action(description="Process the selected instances again")
    def process_again(self, request, queryset):
        done = sum(quarantine.requeue_quarantined(row, by=request.user) for row in queryset)
        self.message_user(request, f"{done} instances queued again; they are processed in a moment.")

    @admin.action(description="Delete the selected instances and their files")
    def delete_for_good(self, request, queryset):
        count = 0
        for row in queryset:
            quarantine.delete_quarantined(row, by=request.user)
            count += 1
        self.message_user(request, f"{count} quarantined instances deleted.")
