from __future__ import annotations

from django.urls import path

from apps.annotation import views

app_name = "annotation"

urlpatterns = [
    path("annotate/", views.home, name="home"),
    path("projects/<slug:slug>/annotate/", views.workbench, name="workbench"),
    path("projects/<slug:slug>/annotate/next/", views.item_next, name="item_next"),
    path("projects/<slug:slug>/annotate/undo/", views.label_undo, name="label_undo"),
    path("projects/<slug:slug>/annotate/<int:pk>/submit/", views.label_submit, name="label_submit"),
    path("projects/<slug:slug>/annotate/<int:pk>/skip/", views.item_skip, name="item_skip"),
    path("projects/<slug:slug>/annotate/<int:pk>/flag/", views.item_flag, name="item_flag"),
]
