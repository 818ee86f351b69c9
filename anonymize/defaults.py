"""The default site and project scripts shipped with xnatlite (README "Anonymization"); no Django here."""

from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def default_site_script_text() -> str:
    """The default site script: PS3.15 Annex E Basic Profile, keeping the four review fields."""
    return (SCRIPTS / "default_site.das").read_text(encoding="utf-8")


def default_project_script_text() -> str:
    """The default project script: write the final labels, blank Accession Number."""
    return (SCRIPTS / "default_project.das").read_text(encoding="utf-8")
