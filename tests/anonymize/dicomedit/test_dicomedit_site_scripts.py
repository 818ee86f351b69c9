"""Scripts in the styles XNAT sites publish (written for these tests), run unchanged on pydicom's bundled
files: each must parse, run, and leave the headers its authors meant."""

import pydicom
import pytest

from anonymize.dicomedit import Services, hash_uid, parse_script
from tests.anonymize.dicomedit.datasets import bundled

LABELS = {"project": "ALZ01", "subject": "ALZ01_0007", "session": "ALZ01_0007_MR1"}

# 1. The classic project labelling script, DE 6.1 style: labels, a few removals, private tags out.
LABELLING = """version "6.1"
// Project labelling: the archive labels go into the headers.
(0010,0010) := subject
(0010,0020) := session
(0008,1030) := project
-(0010,0030)
-(0008,0080)
-(0008,0081)
removeAllPrivateTags
"""

# 2. A multi-site trial script: site from the institution, series renamed per modality, UIDs hashed,
#    the referring physician blanked where present and comments cleaned by regex.
TRIAL = """version "6.3"
describe site "Site code" hidden
site := "UNKNOWN"
(0008,0080) ~ ".*JFK.*" ? site := "S02"
(0008,0080) ~ ".*(Mercy|MERCY).*" ? site := "S07"
(0012,0030) := site
(0012,0040) := subject
(0012,0050) := format["{0}_{1}", site, session]
(0008,0060) = "CT" ? (0008,103E) := concatenate["CT ", (0008,103E)] : (0008,103E) := uppercase[(0008,103E)]
(0008,0090) ?= ""
(0020,4000) ?= replace[(0020,4000), "Dr.", ""]
(0020,000D) := hashUID[(0020,000D)]
(0020,000E) := hashUID[(0020,000E)]
(0008,0018) := hashUID[(0008,0018)]
*/(0008,1155) ?= hashUID[*/(0008,1155)]
-(0008,0080)
"""

# 3. A longitudinal study: dates moved by the subject's secret shift, age kept, times kept,
#    everything else about the visit's time removed (PS3.15 E.3.6, Modified Dates).
LONGITUDINAL = """version "6.3"
(0010,1010) = "" ? (0010,1010) := ageAt[(0010,0030), (0008,0020)]
shiftSubjectDates["(0008,0020)", "(0008,0021)", "(0008,0022)", "(0008,0023)", "(0008,0012)"]
shiftDateTimeSequenceByIncrement[subjectDateShift[], "*/(0008,002A)", "days"]
-(0010,0030)
-(0032,1000)
(0012,0063) := "Dates shifted per subject"
"""

# 4. A site script with an ID lookup and series filters in if blocks (6.6-era idioms).
LOOKUP = """version "6.6"
(0010,0020) := lookup["pid", (0010,0020)]
if ((0008,0060) = "OT") {
    reject
}
if ((0008,103E) ~ "(?i).*(localizer|scout).*") {
    reject
} else if ((0008,0060) = "MR") {
    (0008,103E) := lowercase[(0008,103E)]
    (0018,1030) ?= (0008,103E)
} else {
    (0008,103E) := format["{0} series {1}", (0008,0060), (0020,0011)]
}
"""

# 5. RT objects: references mapped under the site's own root so plans and structures still point at
#    their images, the structure set label kept, set[] used as older scripts do.
RT = """version "6.5"
uidroot := "1.2.826.0.1.3680043.10.9"
mapReferencedUIDs[uidroot, "(0008,0018)"]
mapReferencedUIDs[uidroot, "(0020,000D)"]
mapReferencedUIDs[uidroot, "(0020,000E)"]
mapReferencedUIDs[uidroot, "(0020,0052)"]
mapReferencedUIDs[uidroot, "+/(0008,1155)", "+/(0020,000E)", "+/(0020,0052)", "+/(3006,0024)"]
set["(0008,1030)", project]
(300E,0002) ?= "UNAPPROVED"
"""


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(bundled(name), force=True)


def test_labelling_script():
    ds = read("MR_small.dcm")
    parse_script(LABELLING).apply(ds, LABELS)
    assert (str(ds.PatientName), ds.PatientID, ds.StudyDescription) == (
        "ALZ01_0007",
        "ALZ01_0007_MR1",
        "ALZ01",
    )
    assert "PatientBirthDate" not in ds and "InstitutionName" not in ds
    assert not any(elem.tag.is_private for elem in ds)


def test_trial_script():
    ds = read("CT_small.dcm")
    study, sop = ds.StudyInstanceUID, ds.SOPInstanceUID
    series_description = ds.get("SeriesDescription", "")
    script = parse_script(TRIAL)
    assert [v.name for v in script.variables] == ["site"]
    script.apply(ds, LABELS)
    assert (ds.ClinicalTrialSiteID, ds.ClinicalTrialSubjectID) == ("S02", "ALZ01_0007")
    assert ds.ClinicalTrialTimePointID == "S02_ALZ01_0007_MR1"
    assert ds.SeriesDescription == f"CT {series_description}"
    assert (ds.StudyInstanceUID, ds.SOPInstanceUID) == (hash_uid(study), hash_uid(sop))
    assert "InstitutionName" not in ds


def test_longitudinal_script_moves_two_visits_of_a_subject_alike():
    visits = [read("CT_small.dcm"), read("CT_small.dcm")]
    visits[1].StudyDate = "20040301"
    script = parse_script(LONGITUDINAL)
    services = Services(subject_date_shift=lambda: -100)
    for ds in visits:
        ds.PatientBirthDate = "19600704"
        del ds.PatientAge  # CT_small says 000Y: let the script compute it
        script.apply(ds, LABELS, services=services)
    assert [ds.StudyDate for ds in visits] == ["20031011", "20031122"]  # 42 days apart, as before
    assert visits[0].ContentDate == "19970120"
    assert visits[0].StudyTime == "072730"
    assert visits[0].PatientAge == "043Y" and "PatientBirthDate" not in visits[0]


@pytest.mark.parametrize(
    ("modality", "series", "kept", "description"),
    [
        ("MR", "T1 MPRAGE", True, "t1 mprage"),
        ("MR", "AAHead_Scout_64ch", False, None),
        ("OT", "anything", False, None),
        ("CT", "Abdomen", True, "CT series 7"),
    ],
)
def test_lookup_and_filter_script(modality, series, kept, description):
    ds = read("MR_small.dcm")
    ds.Modality, ds.SeriesDescription, ds.SeriesNumber = modality, series, 7
    table = {("pid", ds.PatientID): "ALZ01_0007"}
    result = parse_script(LOOKUP).apply(ds, LABELS, services=Services(lookup=lambda c, k: table.get((c, k))))
    assert result.rejected == (not kept)
    if kept:
        assert ds.PatientID == "ALZ01_0007"
        assert ds.SeriesDescription == description


def test_rt_script_keeps_structures_pointing_at_their_images():
    image, structures = read("CT_small.dcm"), read("rtstruct.dcm")
    frame = structures.ReferencedFrameOfReferenceSequence[0]
    study = frame.RTReferencedStudySequence[0]
    # the image the structure set outlines: its study, series and frame of reference
    image.StudyInstanceUID = study.ReferencedSOPInstanceUID
    image.SeriesInstanceUID = study.RTReferencedSeriesSequence[0].SeriesInstanceUID
    image.FrameOfReferenceUID = frame.FrameOfReferenceUID
    script = parse_script(RT)
    for ds in (image, structures):
        script.apply(ds, LABELS)
    frame = structures.ReferencedFrameOfReferenceSequence[0]
    study = frame.RTReferencedStudySequence[0]
    assert image.SeriesInstanceUID.startswith("1.2.826.0.1.3680043.10.9.")
    assert study.ReferencedSOPInstanceUID == image.StudyInstanceUID
    assert study.RTReferencedSeriesSequence[0].SeriesInstanceUID == image.SeriesInstanceUID
    assert frame.FrameOfReferenceUID == image.FrameOfReferenceUID
    assert structures.StructureSetROISequence[0].ReferencedFrameOfReferenceUID == image.FrameOfReferenceUID
    assert all(len(uid) <= 64 for uid in (image.SOPInstanceUID, image.SeriesInstanceUID))
    assert structures.StudyDescription == "ALZ01"
