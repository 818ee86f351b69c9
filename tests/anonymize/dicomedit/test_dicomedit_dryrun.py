"""Dry run: per-attribute changes, nested and private, with the dataset left as it was."""

import copy

import pydicom

from anonymize.dicomedit import Change, dry_run, parse_script
from tests.anonymize.dicomedit.datasets import VARIABLES, bundled


def test_it_lists_changes_without_touching_the_dataset(ds):
    original = copy.deepcopy(ds)
    script = parse_script(
        'version "6.3"\n(0010,0010) := subject\n- (0010,0030)\n(0008,1030) := project\n'
        '- (0019,{SIEMENS MR HEADER}0F)\n(0008,1140)[1]/(0008,1155) := "9.9"'
    )
    changes = dry_run(script, ds, VARIABLES)
    assert ds == original
    assert changes == [
        Change("(0008,1030)", "StudyDescription", None, "P1", "added"),
        Change("(0008,1140)[1]/(0008,1155)", "ReferencedSOPInstanceUID", "1.2.3.4.7", "9.9", "changed"),
        Change("(0010,0010)", "PatientName", "Doe^John", "S1", "changed"),
        Change("(0010,0030)", "PatientBirthDate", "19800102", None, "removed"),
        Change("(0019,100F)", "", "secret", None, "removed"),
    ]


def test_it_reports_pixel_changes_without_bytes():
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    script = parse_script('version "6.3"\nalterPixels["rectangle", "l=0,t=0,r=4,b=4", "solid", "v=0"]')
    (change,) = dry_run(script, ds, VARIABLES)
    assert change == Change("(7FE0,0010)", "PixelData", "<pixel data>", "<pixel data, changed>", "changed")


def test_it_reports_removed_items_element_by_element(ds):
    changes = dry_run(parse_script('version "6.3"\n- (0008,1140)'), ds, VARIABLES)
    assert [(c.path, c.action) for c in changes] == [
        ("(0008,1140)[0]/(0008,1150)", "removed"),
        ("(0008,1140)[0]/(0008,1155)", "removed"),
        ("(0008,1140)[1]/(0008,1150)", "removed"),
        ("(0008,1140)[1]/(0008,1155)", "removed"),
    ]
