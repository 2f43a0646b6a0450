from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = _("CRS prediction")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from predictor.model_versions.bundled import register_after_migrate

        post_migrate.connect(register_after_migrate, sender=self)
