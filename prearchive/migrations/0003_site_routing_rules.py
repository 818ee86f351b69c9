"""The site routing rules move from the receiver app to the prearchive (every way in routes with them).

The table keeps its name (`dicom_receiver_siteroutingrules`): only Django's idea of its owner changes.
The content type is renamed so that admins' permissions on it stay.
"""
import prearchive.models
from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="prearchive", model="siteroutingrules").exists():
        ContentType.objects.filter(app_label="dicom_receiver", model="siteroutingrules").update(
            app_label="prearchive"
        )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="prearchive", model="siteroutingrules").update(app_label="dicom_receiver")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("dicom_receiver", "0002_quarantined_instance"),
        ('prearchive', '0002_projects_to_kernel'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='SiteRoutingRules',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('project_rules', models.TextField(blank=True, validators=[prearchive.models.validate_rules])),
                        ('project_rules_enabled', models.BooleanField(default=True)),
                        ('subject_rules', models.TextField(blank=True, validators=[prearchive.models.validate_rules])),
                        ('subject_rules_enabled', models.BooleanField(default=True)),
                        ('session_rules', models.TextField(blank=True, validators=[prearchive.models.validate_rules])),
                        ('session_rules_enabled', models.BooleanField(default=True)),
                        ('aa_rules', models.TextField(blank=True, help_text='a rule whose value is true or false decides auto-archive', validators=[prearchive.models.validate_rules], verbose_name='auto-archive rules')),
                        ('aa_rules_enabled', models.BooleanField(default=True, verbose_name='auto-archive rules enabled')),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'verbose_name': 'site routing rules',
                        'verbose_name_plural': 'site routing rules',
                        'db_table': 'dicom_receiver_siteroutingrules',
                    },
                ),
            ],
        ),
        migrations.RunPython(rename_content_type, restore_content_type),
    ]
