"""Language-prefixed pages (owned by the web UI): /zh-hans/… and /en/…."""

from django.urls import path

from predictor.web import codes_page, course_views, model_card_views, views

urlpatterns = [
    path("", views.predict_page, name="predict"),
    path("course/", course_views.course_page, name="course"),
    path("course/template.<str:fmt>", course_views.course_template, name="course_template"),
    path("models/", model_card_views.model_cards, name="model_cards"),
    path("codes/", codes_page.codes_page, name="codes"),
    path("models/<int:horizon>/<str:combination>/", model_card_views.model_card,
         name="model_card"),
    path("models/<int:horizon>/<str:combination>/context/", model_card_views.context_model_card,
         name="model_card_context"),
]
