"""State only: projects moved to the kernel app (xnatlite/migrations/0001_initial.py); no table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('prearchive', '0001_initial'),
        ('xnatlite', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='prearchivesession',
                    name='project',
                    field=models.ForeignKey(blank=True, help_text='empty for Unassigned', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='prearchive_sessions', to='xnatlite.project'),
                ),
            ],
        ),
    ]
