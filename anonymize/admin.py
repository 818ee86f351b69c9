"""Django admin for the site script (site admins), project scripts and their versions."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from anonymize import services
from anonymize.models import ProjectScript, ScriptVersion, SiteScript
from xnatlite.errors import InvalidScript


class ScriptForm(forms.ModelForm):
    def clean_text(self):
        text = self.cleaned_data["text"]
        try:
            services.validate_script(text)
        except InvalidScript as exc:
            raise ValidationError(exc.message) from None
        return text


@admin.register(SiteScript)
class SiteScriptAdmin(admin.ModelAdmin):
    form = ScriptForm
    fields = ("text", "enabled", "deidentifying", "version", "updated_at", "updated_by")
    readonly_fields = ("version", "updated_at", "updated_by")
    list_display = ("__str__", "enabled", "updated_at", "updated_by")

    def has_add_permission(self, request):
        return not SiteScript.objects.exists()

    def get_changeform_initial_data(self, request):
        state = services.get_site_script()
        return {"text": state.text, "enabled": state.enabled, "deidentifying": state.deidentifying}

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.save_site_script(
            data["text"], enabled=data["enabled"], deidentifying=data["deidentifying"], by=request.user
        )
        obj.pk = 1
        obj.refresh_from_db()


@admin.register(ProjectScript)
class ProjectScriptAdmin(admin.ModelAdmin):
    form = ScriptForm
    fields = ("project", "text", "enabled", "deidentifying", "version", "updated_at", "updated_by")
    readonly_fields = ("version", "updated_at", "updated_by")
    list_display = ("project", "enabled", "version", "updated_at", "updated_by")
    search_fields = ("project__id",)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "project") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        project = obj.project
        services.save_project_script(
            project,
            data["text"],
            enabled=data["enabled"],
            deidentifying=data["deidentifying"],
            by=request.user,
        )
        saved = ProjectScript.objects.get(project=project)
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(ScriptVersion)
class ScriptVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "enabled", "deidentifying", "created_at", "created_by")
    list_filter = ("project",)
    readonly_fields = [f.name for f in ScriptVersion._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
