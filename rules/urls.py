from django.urls import path

from rules import views

app_name = "rules"

urlpatterns = [
    path("b/<slug:brand>/policy/", views.policy, name="policy"),
    path("b/<slug:brand>/policy/preview/", views.policy_preview, name="policy_preview"),
    path("b/<slug:brand>/policy/history/", views.policy_history, name="policy_history"),
    path("b/<slug:brand>/policy/versions/<int:number>/revert/", views.policy_revert, name="policy_revert"),
]
