"""Projects, their aliases and the audit trail move from the archive app to the kernel.

The tables stay where they are (`archive_project`, ...): only Django's idea of which app owns them
changes, so this migration touches no table. The content types are renamed so that the groups'
object permissions and the audit rows keep pointing at the same rows.
"""

import django.db.models.deletion
import xnatlite.layout
from django.conf import settings
from django.db import migrations, models


MOVED = ("project", "projectalias", "auditevent")


def rename_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="xnatlite", model=model).exists():
            ContentType.objects.filter(app_label="archive", model=model).update(app_label="xnatlite")


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="xnatlite", model__in=MOVED).update(app_label="archive")


class Migration(migrations.Migration):

    dependencies = [
        ("archive", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Project',
                    fields=[
                        ('id', models.CharField(max_length=64, primary_key=True, serialize=False, validators=[xnatlite.layout.validate_label], verbose_name='project ID')),
                        ('secondary_id', models.CharField(blank=True, max_length=255, verbose_name='running title')),
                        ('name', models.CharField(max_length=255, verbose_name='project title')),
                        ('description', models.TextField(blank=True)),
                        ('keywords', models.CharField(blank=True, max_length=255)),
                        ('pi', models.CharField(blank=True, max_length=255, verbose_name='principal investigator')),
                        ('accessibility', models.CharField(choices=[('private', 'Private: only project users see it'), ('protected', 'Protected: everyone sees that it exists, only project users see data'), ('public', 'Public: everyone signed in may read and download')], default='private', max_length=16)),
                        ('prearchive_code', models.IntegerField(choices=[(0, 'Keep in the prearchive for review'), (4, 'Archive automatically, never overwrite'), (5, 'Archive automatically and overwrite existing files')], default=0)),
                        ('unix_group', models.CharField(blank=True, help_text="Unix group that owns the project's archive folder (with XNATLITE_PROJECT_GROUPS=true)", max_length=32)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'archive_project',
                        'ordering': ['id'],
                        'permissions': [('read_data', "Read and download the project's data"), ('edit_data', "Create and modify the project's subjects, sessions, scans and prearchive"), ('delete_data', "Delete the project's archived data"), ('manage_project', "Change the project's settings and users")],
                    },
                ),
                migrations.CreateModel(
                    name='ProjectAlias',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('alias', models.CharField(max_length=64, unique=True, validators=[xnatlite.layout.validate_label])),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='aliases', to='xnatlite.project')),
                    ],
                    options={
                        'verbose_name_plural': 'project aliases',
                        'db_table': 'archive_projectalias',
                        'ordering': ['alias'],
                    },
                ),
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('timestamp', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor_name', models.CharField(blank=True, help_text='kept when the account is deleted', max_length=150)),
                        ('action', models.CharField(db_index=True, max_length=100)),
                        ('object_type', models.CharField(blank=True, max_length=50)),
                        ('object_id', models.CharField(blank=True, max_length=255)),
                        ('object_label', models.CharField(blank=True, max_length=512)),
                        ('project_id', models.CharField(blank=True, db_index=True, max_length=64)),
                        ('details', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'archive_auditevent',
                        'ordering': ['-timestamp', '-id'],
                        'indexes': [models.Index(fields=['object_type', 'object_id'], name='archive_aud_object__1ff417_idx')],
                    },
                ),
            ],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
