from django.contrib import admin
from django.urls import include, path

from followback import views

urlpatterns = [
    path("", views.home, name="home"),
    path("b/<slug:brand>/", views.brand_home, name="brand_home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("", include("rules.urls")),
    path("account/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
