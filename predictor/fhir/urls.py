"""FHIR R4 under /fhir/r4/ (no language prefix; Accept-Language chooses the language)."""

from django.urls import re_path

from predictor.fhir import views

app_name = "fhir"
urlpatterns = [
    re_path(r"^metadata/?$", views.metadata, name="metadata"),
    re_path(r"^RiskAssessment/\$predict/?$", views.predict_operation, name="predict"),
    re_path(r"^OperationDefinition/RiskAssessment-predict/?$", views.predict_definition,
            name="predict-definition"),
]
