"""State only: the site routing rules moved to the prearchive (prearchive/migrations/0003)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("prearchive", "0003_site_routing_rules"),
        ('dicom_receiver', '0002_quarantined_instance'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name='SiteRoutingRules',
                ),
            ],
        ),
    ]
