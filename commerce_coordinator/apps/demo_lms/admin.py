from django.contrib import admin

from .models import DemoEnrollment, DemoOAuthClient


@admin.register(DemoOAuthClient)
class DemoOAuthClientAdmin(admin.ModelAdmin):
    list_display = ["client_id", "username", "is_administrator", "created"]
    exclude = ["client_secret_hash"]


@admin.register(DemoEnrollment)
class DemoEnrollmentAdmin(admin.ModelAdmin):
    list_display = ["user", "course_id", "mode", "is_active", "modified"]
    search_fields = ["user", "course_id"]
