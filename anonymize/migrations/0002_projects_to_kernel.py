"""State only: projects moved to the kernel app (xnatlite/migrations/0001_initial.py); no table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('anonymize', '0001_initial'),
        ('xnatlite', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='projectscript',
                    name='project',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='anon_script', to='xnatlite.project'),
                ),
                migrations.AlterField(
                    model_name='scriptversion',
                    name='project',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='xnatlite.project'),
                ),
            ],
        ),
    ]
