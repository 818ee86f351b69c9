"""The data migration that gives sites still running the old default site script the one that keeps dates."""

import importlib
from pathlib import Path

from django.apps import apps

from anonymize.defaults import default_site_script_text
from anonymize.models import ScriptVersion, SiteScript

MIGRATION = importlib.import_module("anonymize.migrations.0004_default_site_script_keeps_dates")


def old_default() -> str:
    """The default site script as shipped before issue 15 (it blanked every date)."""
    return (Path(__file__).parents[1] / "data" / "issue15_default_site_script_before.das").read_text()


def test_an_unmodified_old_default_becomes_the_new_one(db):
    SiteScript.objects.create(pk=1, text=old_default().replace("\n", "\r\n"), version=3)
    MIGRATION.update_unmodified_default(apps, None)
    row = SiteScript.objects.get()
    assert (row.text, row.version) == (default_site_script_text(), 4)
    assert ScriptVersion.objects.get(project=None, version=4).text == default_site_script_text()
    assert '*/(0008,0020) ?= ""' in old_default() and "(0008,0020) ?=" not in row.text


def test_a_changed_site_script_is_left_alone(db):
    text = old_default() + "\n- (0008,0080)\n"
    SiteScript.objects.create(pk=1, text=text, version=2)
    MIGRATION.update_unmodified_default(apps, None)
    assert (SiteScript.objects.get().text, SiteScript.objects.get().version) == (text, 2)
    assert not ScriptVersion.objects.exists()
