"""The attributes QIDO-RS knows (keyword, tag, VR, level) and their DICOM JSON encoding (PS3.18 F.2).

Attributes the archive's rows hold are read from them; the others come from an instance's header, read
only when a query matches on them or asks for them (`includefield`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from xnatlite.errors import InvalidInput

STUDY, SERIES, INSTANCE = "study", "series", "instance"
LEVELS = (STUDY, SERIES, INSTANCE)


@dataclass(frozen=True)
class Attribute:
    keyword: str
    tag: str  # eight hex digits, upper case: DICOM JSON's key
    vr: str
    level: str
    default: bool  # returned without includefield (PS3.18 Table 6.7.1-2)


def _attribute(keyword: str, level: str, default: bool = True) -> Attribute:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return Attribute(keyword, f"{tag:08X}", dictionary_VR(tag), level, default)


# What each level answers (PS3.18 Tables 6.7.1-2, -2a, -2b), and the further attributes `includefield`
# may ask for (read from a header of the study, series or instance).
ATTRIBUTES = {
    a.keyword: a
    for a in [
        _attribute("StudyDate", STUDY),
        _attribute("StudyTime", STUDY),
        _attribute("AccessionNumber", STUDY),
        _attribute("ModalitiesInStudy", STUDY),
        _attribute("ReferringPhysicianName", STUDY),
        _attribute("PatientName", STUDY),
        _attribute("PatientID", STUDY),
        _attribute("StudyInstanceUID", STUDY),
        _attribute("StudyID", STUDY),
        _attribute("NumberOfStudyRelatedSeries", STUDY),
        _attribute("NumberOfStudyRelatedInstances", STUDY),
        _attribute("StudyDescription", STUDY, default=False),
        _attribute("PatientBirthDate", STUDY, default=False),
        _attribute("PatientSex", STUDY, default=False),
        _attribute("Modality", SERIES),
        _attribute("SeriesDescription", SERIES),
        _attribute("SeriesInstanceUID", SERIES),
        _attribute("SeriesNumber", SERIES),
        _attribute("NumberOfSeriesRelatedInstances", SERIES),
        _attribute("BodyPartExamined", SERIES, default=False),
        _attribute("SeriesDate", SERIES, default=False),
        _attribute("SeriesTime", SERIES, default=False),
        _attribute("SOPClassUID", INSTANCE),
        _attribute("SOPInstanceUID", INSTANCE),
        _attribute("InstanceNumber", INSTANCE),
        _attribute("Rows", INSTANCE),
        _attribute("Columns", INSTANCE),
        _attribute("BitsAllocated", INSTANCE),
        _attribute("NumberOfFrames", INSTANCE),
        _attribute("ImageType", INSTANCE, default=False),
        _attribute("ContentDate", INSTANCE, default=False),
        _attribute("ContentTime", INSTANCE, default=False),
    ]
}
BY_TAG = {a.tag: a for a in ATTRIBUTES.values()}
RETRIEVE_URL = "00081190"


def attribute(name: str) -> Attribute:
    """An attribute by keyword or by tag (`00100010`, `0010,0010`); InvalidInput for one we do not know."""
    text = name.strip().replace(",", "").upper()
    if len(text) == 8 and all(c in "0123456789ABCDEF" for c in text):
        found = BY_TAG.get(text)
        keyword = keyword_for_tag(int(text, 16)) if found is None else found.keyword
    else:
        found, keyword = ATTRIBUTES.get(name.strip()), name.strip()
    if found is None:
        raise InvalidInput(f"The attribute '{name}' ({keyword or 'unknown'}) is not supported here")
    return found


def levels_up_to(level: str) -> tuple[str, ...]:
    """The levels whose attributes an answer at `level` carries (a series answer has its study's too)."""
    return LEVELS[: LEVELS.index(level) + 1]


def element(attr: Attribute, value: Any) -> dict[str, Any]:
    """One DICOM JSON element; None or "" is an empty element (`{"vr": ...}`)."""
    answer: dict[str, Any] = {"vr": attr.vr}
    if value is None or value == "" or value == []:
        return answer
    values = value if isinstance(value, list) else [value]
    if attr.vr == "PN":
        answer["Value"] = [{"Alphabetic": str(v)} for v in values]
    elif attr.vr in ("IS", "US", "UL", "SS", "SL"):
        answer["Value"] = [int(v) for v in values]
    elif attr.vr in ("DS", "FL", "FD"):
        answer["Value"] = [float(v) for v in values]
    else:
        answer["Value"] = [str(v) for v in values]
    return answer
