"""Data only: the unmodified default site script becomes the one that keeps dates (issue 15)."""

from django.db import migrations


# The shipped default site script before issue 15 blanked every date. A site that saved it unchanged (or
# saved an earlier shipped default) gets the new default, which keeps the study, series, acquisition and
# content dates, as a new version; a site that changed its script keeps its own text.
OLD_DEFAULTS = {
    "55ed4b363ebc751ca9b43bd452d864caf99cc79316e918454ff8de48314e8049",
    "0a0a3d97722014e72bcdf09c789628630f69b62b39f21264ebcd8c953e27e182",
    "06aaf5bbd2701da705a0d66ab540d9622a62ff9a8445b1d9a04e6a99a698dd15",
}


def _digest(text):
    import hashlib

    return hashlib.sha256(text.replace("\r\n", "\n").strip().encode()).hexdigest()


def update_unmodified_default(apps, schema_editor):
    from anonymize.defaults import default_site_script_text

    SiteScript = apps.get_model("anonymize", "SiteScript")
    ScriptVersion = apps.get_model("anonymize", "ScriptVersion")
    row = SiteScript.objects.filter(pk=1).first()
    if row is None or _digest(row.text) not in OLD_DEFAULTS:
        return  # no row: the shipped default runs, already the new one; a changed script stays
    row.text = default_site_script_text()
    row.version += 1
    row.updated_by = None
    row.save()
    ScriptVersion.objects.create(
        project=None,
        version=row.version,
        text=row.text,
        enabled=row.enabled,
        deidentifying=row.deidentifying,
        created_by=None,
    )




class Migration(migrations.Migration):
    dependencies = [("anonymize", "0003_dates_and_lookup_tables")]

    operations = [migrations.RunPython(update_unmodified_default, migrations.RunPython.noop)]
