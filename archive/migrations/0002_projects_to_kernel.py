"""State only: projects moved to the kernel app (xnatlite/migrations/0001_initial.py); no table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('archive', '0001_initial'),
        ('xnatlite', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='project',
                    name='created_by',
                ),
                migrations.AlterField(
                    model_name='imagesession',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sessions', to='xnatlite.project'),
                ),
                migrations.AlterField(
                    model_name='subject',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='subjects', to='xnatlite.project'),
                ),
                migrations.AlterField(
                    model_name='resource',
                    name='project',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='resources', to='xnatlite.project'),
                ),
                migrations.RemoveField(
                    model_name='projectalias',
                    name='project',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
            ],
        ),
    ]
