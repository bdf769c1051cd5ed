from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("b/<slug:brand>/members/", views.members, name="members"),
    path("b/<slug:brand>/members/invite/", views.member_invite, name="member_invite"),
    path("b/<slug:brand>/members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("b/<slug:brand>/members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path(
        "b/<slug:brand>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
