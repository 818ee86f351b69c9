"""State only: projects moved to the kernel app (xnatlite/migrations/0001_initial.py); no table changes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('anonymize', '0002_projects_to_kernel'),
        ('archive', '0002_projects_to_kernel'),
        ('prearchive', '0002_projects_to_kernel'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name='Project',
                ),
                migrations.DeleteModel(
                    name='ProjectAlias',
                ),
            ],
        ),
    ]
