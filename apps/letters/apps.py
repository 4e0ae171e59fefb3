from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "apps.letters"
    label = "letters"
