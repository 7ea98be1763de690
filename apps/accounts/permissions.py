"""Who may do what in a project: one table, read by pages and API alike."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings

from apps.accounts.models import Role, User


class Capability(StrEnum):
    VIEW_PROJECT = "view_project"
    MANAGE_PROJECT = "manage_project"
    MANAGE_MEMBERS = "manage_members"
    VIEW_DATA = "view_data"  # prompts, responses, model names, imports
    IMPORT_DATA = "import_data"  # imports, and writing prompts and comparisons through the API
    ANNOTATE = "annotate"
    DESIGN_REWARDS = "design_rewards"  # reward functions, their versions, score runs
    DESIGN_RUBRICS = "design_rubrics"  # rubrics and their versions (everyone reads them)
    SCORE_REWARDS = "score_rewards"  # the synchronous scoring endpoint
    EXPORT_DATA = "export_data"  # create and download exports (raw labels name annotators)
    VIEW_QUALITY = "view_quality"  # agreement figures (the κ matrix names annotators)
    MANAGE_QUALITY = "manage_quality"  # everyone's reports, review, gold items, recompute


_ALL = set(Role)
ROLE_CAPABILITIES: dict[Capability, set[Role]] = {
    Capability.VIEW_PROJECT: _ALL,
    Capability.MANAGE_PROJECT: {Role.ADMIN},
    Capability.MANAGE_MEMBERS: {Role.ADMIN},
    # Annotators judge blind: they see items in the workbench, not model names here.
    Capability.VIEW_DATA: {Role.ADMIN, Role.DESIGNER, Role.VIEWER},
    Capability.IMPORT_DATA: {Role.ADMIN, Role.DESIGNER},
    Capability.ANNOTATE: {Role.ADMIN, Role.DESIGNER, Role.ANNOTATOR},
    Capability.DESIGN_REWARDS: {Role.ADMIN, Role.DESIGNER},
    Capability.DESIGN_RUBRICS: {Role.ADMIN, Role.DESIGNER},
    Capability.SCORE_REWARDS: {Role.ADMIN, Role.DESIGNER},
    Capability.EXPORT_DATA: {Role.ADMIN, Role.DESIGNER},
    Capability.VIEW_QUALITY: {Role.ADMIN, Role.DESIGNER, Role.VIEWER},
    Capability.MANAGE_QUALITY: {Role.ADMIN, Role.DESIGNER},
}


def role_can(role: str | None, capability: Capability) -> bool:
    return role is not None and Role(role) in ROLE_CAPABILITIES[capability]


def may_create_projects(user: User) -> bool:
    """Whether the user may create projects: staff, or anyone when PROJECT_CREATORS=all."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or settings.PROJECT_CREATORS == "all"
