from django.contrib import admin
from django.urls import include, path

from followback import audit_views, follow_views, queue_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("b/<slug:brand>/", views.brand_home, name="brand_home"),
    path("healthz", views.healthz, name="healthz"),
    path("b/<slug:brand>/audit/", audit_views.audit, name="audit"),
    path("b/<slug:brand>/audit.csv", audit_views.audit_csv, name="audit_csv"),
    path("b/<slug:brand>/queue/", queue_views.queue, name="queue"),
    path("b/<slug:brand>/queue/bulk/", queue_views.queue_bulk, name="queue_bulk"),
    path("b/<slug:brand>/queue/undo/", queue_views.queue_undo, name="queue_undo"),
    path(
        "b/<slug:brand>/queue/<int:suggestion_id>/", queue_views.suggestion_detail, name="suggestion_detail"
    ),
    path("b/<slug:brand>/queue/<int:suggestion_id>/decide/", queue_views.queue_decide, name="queue_decide"),
    path(
        "b/<slug:brand>/queue/<int:suggestion_id>/comments/",
        queue_views.suggestion_comment,
        name="suggestion_comment",
    ),
    path("b/<slug:brand>/follows/", follow_views.follows, name="follows"),
    path("b/<slug:brand>/follows/<int:action>/retry", follow_views.follow_retry, name="follow_retry"),
    path("", include("accounts.urls")),
    path("", include("rules.urls")),
    path("account/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
