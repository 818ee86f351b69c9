"""Django admin for site admins: alias tokens (who may sign in as whom, until when), sign-in lockouts
and custom variables."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin

from xnatapi import services
from xnatapi.models import AliasToken, CustomVariable
from xnatlite import signin

admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class SignInAttemptAdmin(AccessAttemptAdmin):
    """django-axes' failed sign-ins by address and account; deleting a row unlocks them, audited as
    the admin who did it (xnatlite/signin.py)."""

    def delete_model(self, request, obj):
        with signin.unlocking(by=request.user):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with signin.unlocking(by=request.user):
            super().delete_queryset(request, queryset)


@admin.register(AliasToken)
class AliasTokenAdmin(admin.ModelAdmin):
    list_display = ("alias", "user", "created_at", "expires_at", "revoked_at", "valid")
    list_filter = ("revoked_at",)
    search_fields = ("alias", "user__username", "user__email")
    readonly_fields = ("user", "alias", "created_at", "expires_at", "revoked_at")
    exclude = ("secret_hash",)
    actions = ["revoke"]

    @admin.display(boolean=True)
    def valid(self, token: AliasToken) -> bool:
        return token.is_valid

    def has_add_permission(self, request):
        return False  # users issue their own tokens through the API

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for alias in queryset.filter(revoked_at__isnull=True).values_list("alias", flat=True):
            services.revoke_alias_token(alias, by=request.user)


@admin.register(CustomVariable)
class CustomVariableAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "subject", "session")
    search_fields = ("name", "value", "subject__label", "session__label")
    readonly_fields = ("subject", "session")
