"""Django admin for site admins: alias tokens (who may sign in as whom, until when) and custom variables."""

from django.contrib import admin

from xnatapi import services
from xnatapi.models import AliasToken, CustomVariable


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
