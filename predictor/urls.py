"""Language-prefixed pages (owned by the web UI): /zh-hans/… and /en/…."""

from django.urls import path

from predictor import model_card_views, views

urlpatterns = [
    path("", views.predict_page, name="predict"),
    path("models/", model_card_views.model_cards, name="model_cards"),
    path("models/<int:horizon>/<str:combination>/", model_card_views.model_card,
         name="model_card"),
]
