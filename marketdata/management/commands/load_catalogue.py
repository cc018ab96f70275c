from django.core.management.base import BaseCommand

from marketdata.services import load_catalogue


class Command(BaseCommand):
    help = "Load the built-in exchanges and their common markets (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        exchanges, markets = load_catalogue()
        self.stdout.write(f"catalogue: {exchanges} exchanges, {markets} markets")
