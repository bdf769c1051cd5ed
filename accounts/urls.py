from django.urls import path

from accounts import account_views, views

app_name = "accounts"

urlpatterns = [
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("b/<slug:brand>/members/", views.members, name="members"),
    path("b/<slug:brand>/members/invite/", views.member_invite, name="member_invite"),
    path("b/<slug:brand>/members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("b/<slug:brand>/members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("b/<slug:brand>/members/<int:member_id>/unlock/", views.member_unlock, name="member_unlock"),
    path("b/<slug:brand>/accounts/", account_views.account_list, name="account_list"),
    path("b/<slug:brand>/accounts/connect/demo/", account_views.connect_demo, name="connect_demo"),
    path(
        "b/<slug:brand>/accounts/connect/mastodon/", account_views.connect_mastodon, name="connect_mastodon"
    ),
    path("b/<slug:brand>/accounts/connect/bluesky/", account_views.connect_bluesky, name="connect_bluesky"),
    path("b/<slug:brand>/accounts/<int:account_id>/", account_views.account_detail, name="account_detail"),
    path(
        "b/<slug:brand>/accounts/<int:account_id>/progress/",
        account_views.account_progress,
        name="account_progress",
    ),
    path("b/<slug:brand>/accounts/<int:account_id>/sync/", account_views.account_sync, name="account_sync"),
    path(
        "b/<slug:brand>/accounts/<int:account_id>/disconnect/",
        account_views.account_disconnect,
        name="account_disconnect",
    ),
    path("b/<slug:brand>/customers/", account_views.customer_list, name="customer_list"),
    path("connect/mastodon/callback/", account_views.mastodon_callback, name="mastodon_callback"),
    path(
        "b/<slug:brand>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
