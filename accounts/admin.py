from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import AuditEvent, Brand, ConnectedAccount, Invitation, Membership, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "brand", "role", "status", "created_at", "accepted_at", "revoked_at"]
    list_filter = ["status", "role"]
    list_select_related = ["brand"]


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(admin.ModelAdmin):
    """Credentials stay out of the admin (their ciphertext is not editable), and so does where they are sent."""

    list_display = ["handle", "platform", "brand", "status", "followers_count", "last_synced_at"]
    list_filter = ["platform", "status"]
    list_select_related = ["brand"]
    search_fields = ["handle"]
    readonly_fields = ["brand", "platform", "platform_user_id", "server_url", "profile_url", "connected_by",
                       "connected_at", "last_synced_at"]  # fmt: skip


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "brand", "actor", "verb", "summary"]
    list_filter = ["verb"]
    list_select_related = ["brand", "actor"]
    search_fields = ["summary"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
