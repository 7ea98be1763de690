from __future__ import annotations

from django.urls import path

from apps.accounts import api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="project_list"),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="project_detail"),
    path(
        "projects/<int:project_id>/members/",
        api.MembershipListApi.as_view(),
        name="member_list",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        api.MembershipDetailApi.as_view(),
        name="member_detail",
    ),
    path(
        "projects/<int:project_id>/invitations/",
        api.InvitationListApi.as_view(),
        name="invitation_list",
    ),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/",
        api.InvitationDetailApi.as_view(),
        name="invitation_detail",
    ),
    path("tokens/me/", api.TokenApi.as_view(), name="token_me"),
]
