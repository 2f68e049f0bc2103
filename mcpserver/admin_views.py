"""Admin building blocks shared by the apps."""

from django.contrib import admin


class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write (logins, signing keys, the audit trail): the admin
    shows them and runs their actions, but adds, edits and deletes nothing."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
