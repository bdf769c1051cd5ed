from django.apps import AppConfig


class FollowbackConfig(AppConfig):
    name = "followback"
    verbose_name = "Review"

    def ready(self) -> None:
        from followback import checks  # noqa: F401  (registers the production security check)
