from django.core.management.base import BaseCommand

from bots.services.demo import create_demo_data


class Command(BaseCommand):
    help = "Create the demo users and paper bots (single-machine mode only; idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        creds = create_demo_data()
        for role, cred in creds.items():
            self.stdout.write(f"{role}: {cred}")
