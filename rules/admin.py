from django.contrib import admin
from django.http import HttpRequest

from rules.models import PolicyVersion


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Read-only: a policy changes only through its page, which numbers the version and audits the change."""

    list_display = ["brand", "number", "created_by", "created_at", "note"]
    list_select_related = ["brand", "created_by"]
    list_filter = ["brand"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return False
