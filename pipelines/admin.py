"""Site admins add, edit and enable commands (a command is code the workers run: admins only); the
document is validated on save and its wrappers follow it."""

import json

from django import forms
from django.contrib import admin

from pipelines import services
from pipelines.documents import parse_command
from pipelines.models import Command, PipelineRun, Wrapper
from xnatlite.errors import InvalidInput


class CommandForm(forms.ModelForm):
    class Meta:
        model = Command
        fields = ["document", "enabled"]

    def clean_document(self):
        document = self.cleaned_data["document"]
        try:
            parsed = parse_command(document if isinstance(document, dict) else json.dumps(document))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
        self.instance.name, self.instance.version = parsed.name, parsed.version
        return document


class WrapperInline(admin.TabularInline):
    model = Wrapper
    fields = ["name", "level", "description", "enabled", "enabled_by_default"]
    readonly_fields = ["name", "level", "description"]
    extra = 0
    can_delete = False


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    form = CommandForm
    list_display = ["name", "version", "enabled", "builtin", "updated_at"]
    list_filter = ["enabled", "builtin"]
    inlines = [WrapperInline]

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_add_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: request.user.is_superuser
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.sync_wrappers(obj)


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["id", "wrapper", "project", "session", "scan", "status", "launched_by", "created_at"]
    list_filter = ["status", "launched_via"]
    readonly_fields = [f.name for f in PipelineRun._meta.fields] + ["outputs"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
