"""QIDO-RS and WADO-RS reads over the archive: the studies (image sessions), series (scans) and instances
(DICOM files) a user may read, matched as PS3.18 8.3.4 / PS3.4 C.2.2.2 say, one page at a time.

Matching on what the rows hold runs in the database; matching on other attributes (Study Description,
say) reads one header per candidate (a study's or series' first instance), only for the rows that get
that far. Someone without `read` on a project finds nothing of it, exactly as if it were not there.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings
from django.db.models import Count, Exists, IntegerField, Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from archive.models import File, ImageSession, Scan
from dicomweb.dicomjson import (
    ATTRIBUTES,
    INSTANCE,
    RETRIEVE_URL,
    SERIES,
    STUDY,
    Attribute,
    attribute,
    element,
    levels_up_to,
)
from xnatlite import layout, permissions
from xnatlite.errors import InvalidInput, NotFound
from xnatlite.models import Project

DICOM = "DICOM"  # the scan resource holding the instances (archiving/build.py)
DEFAULT_LIMIT = 100
# The most headers one query reads to match attributes no row holds (StudyDescription, ...); narrow
# the query with attributes the rows hold (dates, UIDs, PatientID, Modality) to look further.
HEADERS_READ_MAX = 10_000
CONTROL = ("limit", "offset", "fuzzymatching", "includefield")

# Attributes a row holds: keyword -> (level of the row that holds it, its field there).
ROW_FIELDS = {
    "StudyInstanceUID": (STUDY, "study_instance_uid"),
    "StudyDate": (STUDY, "date"),
    "StudyTime": (STUDY, "time"),
    "AccessionNumber": (STUDY, "dcm_accession_number"),
    "PatientName": (STUDY, "dcm_patient_name"),
    "PatientID": (STUDY, "dcm_patient_id"),
    "SeriesInstanceUID": (SERIES, "series_instance_uid"),
    "Modality": (SERIES, "modality"),
    "SeriesDescription": (SERIES, "series_description"),
    "SOPClassUID": (INSTANCE, "sop_class_uid"),
    "SOPInstanceUID": (INSTANCE, "sop_instance_uid"),
}
# How a row of each level reaches the row of another: FIELD_PATH[row level][holder level].
FIELD_PATH = {
    STUDY: {STUDY: ""},
    SERIES: {STUDY: "session__", SERIES: ""},
    INSTANCE: {STUDY: "resource__scan__session__", SERIES: "resource__scan__", INSTANCE: ""},
}
MODALITIES = Scan.objects.only("pk", "session_id", "modality")  # ModalitiesInStudy, prefetched
COUNTED = {"NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"}


@dataclass
class Query:
    """A parsed QIDO-RS query: what to match, what to answer, which page."""

    level: str
    matches: dict[str, str] = field(default_factory=dict)  # keyword -> the value asked for
    include: set[str] = field(default_factory=set)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    fuzzy: bool = False
    warnings: list[str] = field(default_factory=list)


def _int(name: str, text: str) -> int:
    if not text.isdigit():
        raise InvalidInput(f"{name} must be a whole number, not '{text[:32]}'")
    return int(text)


def parse_query(params: Mapping[str, list[str]], level: str) -> Query:
    """A query from the request's parameters (each name with all its values)."""
    query = Query(level)
    known = set().union(*(_level_keywords(lv) for lv in levels_up_to(level)))
    for name, values in params.items():
        if name == "includefield":
            fields = [f for v in values for f in v.split(",") if f.strip()]
            if len(fields) > settings.DICOMWEB_MAX_INCLUDEFIELDS:
                raise InvalidInput(
                    f"At most {settings.DICOMWEB_MAX_INCLUDEFIELDS} includefield values are accepted"
                )
            for name_ in fields:
                if name_.strip() == "all":
                    query.include |= known
                else:
                    query.include.add(attribute(name_).keyword)
        elif name == "limit":
            query.limit = _int("limit", values[-1])
            if query.limit > settings.DICOMWEB_MAX_LIMIT:
                query.warnings.append(f"299 xnatlite: limit lowered to {settings.DICOMWEB_MAX_LIMIT}")
                query.limit = settings.DICOMWEB_MAX_LIMIT
        elif name == "offset":
            query.offset = _int("offset", values[-1])
        elif name == "fuzzymatching":
            query.fuzzy = values[-1].strip().lower() == "true"
            if query.fuzzy:
                query.warnings.append("299 xnatlite: fuzzymatching is not supported; matching is exact")
        elif name.startswith("_"):
            continue  # cache busters some viewers add
        else:
            attr = attribute(name)
            if attr.keyword not in known:
                raise InvalidInput(f"{attr.keyword} cannot be matched in a {level} query")
            query.matches[attr.keyword] = values[-1]
    return query


def _level_keywords(level: str) -> set[str]:
    return {a.keyword for a in ATTRIBUTES.values() if a.level == level}


# --- matching ------------------------------------------------------------------------------------
def wildcard_regex(pattern: str) -> str:
    """A DICOM wildcard pattern (`*` any run, `?` one character) as an anchored regular expression."""
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"


def _dicom_date(text: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError:
        raise InvalidInput(f"'{text[:32]}' is not a DICOM date (YYYYMMDD)") from None


def _dicom_time(text: str) -> datetime.time:
    digits = text.strip().split(".")[0].ljust(6, "0")
    try:
        return datetime.datetime.strptime(digits[:6], "%H%M%S").time()
    except ValueError:
        raise InvalidInput(f"'{text[:32]}' is not a DICOM time (HHMMSS)") from None


def _row_filter(attr: Attribute, path: str, value: str) -> Q:
    """The database condition for one attribute a row holds."""
    if attr.vr == "UI":
        uids = [u.strip() for u in re.split(r"[,\\]", value) if u.strip()]
        return Q(**{f"{path}__in": uids})
    if attr.vr in ("DA", "TM"):
        parse = _dicom_date if attr.vr == "DA" else _dicom_time
        if "-" in value:
            low, _, high = value.partition("-")
            condition = Q()
            if low.strip():
                condition &= Q(**{f"{path}__gte": parse(low)})
            if high.strip():
                condition &= Q(**{f"{path}__lte": parse(high)})
            return condition
        return Q(**{path: parse(value)})
    if attr.vr == "CS" and ("\\" in value or "," in value):
        return Q(**{f"{path}__in": [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]})
    fold = "i" if attr.vr == "PN" else ""  # names match whatever their case (PS3.4 C.2.2.2.1)
    if "*" in value or "?" in value:
        return Q(**{f"{path}__{fold}regex": wildcard_regex(value)})
    return Q(**{f"{path}__{fold}exact" if fold else path: value})


def _header_matches(attr: Attribute, value: str, ds: Dataset | None) -> bool:
    """Does a header's value match (for attributes no row holds)? Empty asks for nothing."""
    if not value:
        return True
    found = ds.data_element(attr.keyword) if ds is not None and attr.keyword in ds else None
    if found is None or found.value in (None, ""):
        return False
    text = str(found.value)
    if attr.vr in ("DA", "TM") and "-" in value:
        low, _, high = value.partition("-")
        return (not low or text >= low.strip()) and (not high or text <= high.strip())
    flags = re.IGNORECASE if attr.vr == "PN" else 0
    options = [v for v in value.split("\\")] if attr.vr in ("CS", "UI") else [value]
    return any(re.match(wildcard_regex(v), text, flags) for v in options)


# --- rows ---------------------------------------------------------------------------------------
def _count(model: type[Model], **outer: Any) -> Coalesce:
    """A correlated COUNT subquery: cheaper than joining big tables and counting distinct rows."""
    rows = (
        model._default_manager.filter(**outer).order_by().values(*outer).annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _first_file(**outer: Any) -> Subquery:
    files = File.objects.filter(resource__label=DICOM, **outer).order_by("resource__scan__sort_key", "name")
    return Subquery(files.values("path")[:1])


def readable_projects(user: permissions.User | None, project: Project | None = None) -> QuerySet[Project]:
    """The projects the user may read: all of them, or the one named (already checked by the caller)."""
    projects = permissions.projects_for(user, "read")
    return projects.filter(pk=project.pk) if project is not None else projects


def studies(projects: QuerySet[Project]) -> QuerySet[ImageSession]:
    return (
        ImageSession.objects.filter(project__in=projects)
        .exclude(study_instance_uid="")
        .select_related("subject")
        .prefetch_related(Prefetch("scans", queryset=MODALITIES))
        .annotate(
            n_series=_count(Scan, session=OuterRef("pk")),
            n_instances=_count(File, resource__scan__session=OuterRef("pk"), resource__label=DICOM),
            first_path=_first_file(resource__scan__session=OuterRef("pk")),
        )
        .order_by("-date", "-time", "pk")
    )


def series(projects: QuerySet[Project]) -> QuerySet[Scan]:
    return (
        Scan.objects.filter(session__project__in=projects)
        .exclude(series_instance_uid="")
        .select_related("session__subject")
        .prefetch_related(Prefetch("session__scans", queryset=MODALITIES))
        .annotate(
            n_instances=_count(File, resource__scan=OuterRef("pk"), resource__label=DICOM),
            first_path=_first_file(resource__scan=OuterRef("pk")),
        )
        .order_by("session_id", "sort_key", "scan_id")
    )


def instances(projects: QuerySet[Project]) -> QuerySet[File]:
    return (
        File.objects.filter(resource__scan__session__project__in=projects, resource__label=DICOM)
        .exclude(sop_instance_uid="")
        .select_related("resource__scan__session__subject")
        .prefetch_related(Prefetch("resource__scan__session__scans", queryset=MODALITIES))
        .order_by("resource__scan_id", "name")
    )


LEVEL_ROWS = {STUDY: studies, SERIES: series, INSTANCE: instances}


def _modalities_condition(value: str) -> Q:
    modalities = [m.strip() for m in re.split(r"[,\\]", value) if m.strip()]
    scans = Scan.objects.filter(session=OuterRef("pk"), modality__in=modalities)
    return Q(Exists(scans)) | Q(modality__in=modalities)


@dataclass
class Match:
    """One answer: its row and the header it was matched or answered from, if read."""

    row: Any
    header: Dataset | None = None


def read_header(relative: str | None) -> Dataset | None:
    """An instance's header without its pixel data; None for a file gone or unreadable."""
    if not relative:
        return None
    try:
        return pydicom.dcmread(layout.absolute_path(relative), stop_before_pixels=True)
    except (OSError, InvalidDicomError, ValueError):
        return None


def _row_path(level: str, row: Any) -> str | None:
    return row.path if level == INSTANCE else row.first_path


def search(query: Query, projects: QuerySet[Project], **within: str) -> list[Match]:
    """One page of answers; `within` narrows by path parameters (study, series UIDs)."""
    level = query.level
    qs = LEVEL_ROWS[level](projects)
    paths = FIELD_PATH[level]
    if within.get("study"):
        qs = qs.filter(**{f"{paths[STUDY]}study_instance_uid": within["study"]})
    if within.get("series"):
        qs = qs.filter(**{f"{paths[SERIES]}series_instance_uid": within["series"]})
    by_header: dict[str, str] = {}
    for keyword, value in query.matches.items():
        attr = ATTRIBUTES[keyword]
        if keyword == "ModalitiesInStudy" and level == STUDY:
            qs = qs.filter(_modalities_condition(value)) if value else qs
        elif keyword in ROW_FIELDS and value:
            holder, name = ROW_FIELDS[keyword]
            qs = qs.filter(_row_filter(attr, paths[holder] + name, value))
        elif keyword not in COUNTED and value:
            by_header[keyword] = value
    needs_header = any(
        k not in ROW_FIELDS and k not in COUNTED and k != "ModalitiesInStudy" for k in answer_keywords(query)
    )
    if not by_header:
        rows = qs[query.offset : query.offset + query.limit]
        return [Match(r, read_header(_row_path(level, r)) if needs_header else None) for r in rows]
    found: list[Match] = []
    skipped = 0
    for read, row in enumerate(qs.iterator(chunk_size=500)):
        if read >= HEADERS_READ_MAX:  # a query matching on headers reads one per candidate: bounded
            names = ", ".join(sorted(by_header))
            query.warnings.append(f"299 xnatlite: matching on {names} stopped after {read} candidates")
            break
        header = read_header(_row_path(level, row))
        if not all(_header_matches(ATTRIBUTES[k], v, header) for k, v in by_header.items()):
            continue
        if skipped < query.offset:
            skipped += 1
            continue
        found.append(Match(row, header))
        if len(found) >= query.limit:
            break
    return found


# --- answers --------------------------------------------------------------------------------------
def _study_of(level: str, row: Any) -> ImageSession:
    return row if level == STUDY else row.session if level == SERIES else row.resource.scan.session


def _series_of(level: str, row: Any) -> Scan:
    return row if level == SERIES else row.resource.scan


def _row_value(keyword: str, level: str, row: Any) -> Any:
    holder, name = ROW_FIELDS[keyword]
    obj = _study_of(level, row) if holder == STUDY else _series_of(level, row) if holder == SERIES else row
    value = getattr(obj, name)
    if isinstance(value, datetime.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, datetime.time):
        return value.strftime("%H%M%S")
    return value


def _modalities(session: ImageSession) -> list[str]:
    found = sorted({scan.modality for scan in session.scans.all() if scan.modality})  # prefetched
    return found or ([session.modality] if session.modality else [])


def _value(keyword: str, level: str, match: Match) -> Any:
    row = match.row
    if keyword in ROW_FIELDS:
        return _row_value(keyword, level, row)
    if keyword == "ModalitiesInStudy":
        return _modalities(_study_of(level, row))
    if keyword == "NumberOfStudyRelatedSeries":
        return row.n_series if level == STUDY else None
    if keyword == "NumberOfStudyRelatedInstances":
        return row.n_instances if level == STUDY else None
    if keyword == "NumberOfSeriesRelatedInstances":
        return row.n_instances if level == SERIES else None
    if match.header is None:
        return None
    found = match.header.data_element(keyword) if keyword in match.header else None
    if found is None or found.value is None:
        return None
    value = found.value
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        return [str(v) for v in value]
    return str(value)


def retrieve_path(level: str, row: Any) -> str:
    """The WADO-RS path (below the service root) of a study, series or instance row."""
    study = _study_of(level, row)
    path = f"studies/{study.study_instance_uid}"
    if level in (SERIES, INSTANCE):
        path += f"/series/{_series_of(level, row).series_instance_uid}"
    if level == INSTANCE:
        path += f"/instances/{row.sop_instance_uid}"
    return path


def answer_keywords(query: Query) -> set[str]:
    """The level's default attributes (and its parents'), those asked for and those matched on."""
    level = query.level
    keywords = {a.keyword for a in ATTRIBUTES.values() if a.default and a.level in levels_up_to(level)}
    if level != STUDY:
        keywords -= {"NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"}
    return keywords | query.include | set(query.matches)


def answer(query: Query, match: Match, root: str) -> dict[str, Any]:
    """One DICOM JSON object: the level's default attributes (and its parents'), those asked for, those
    matched on, and the Retrieve URL."""
    level = query.level
    keywords = answer_keywords(query)
    result = {}
    for keyword in sorted(keywords, key=lambda k: ATTRIBUTES[k].tag):
        attr = ATTRIBUTES[keyword]
        result[attr.tag] = element(attr, _value(keyword, level, match))
    result[RETRIEVE_URL] = {"vr": "UR", "Value": [f"{root}{retrieve_path(level, match.row)}"]}
    return result


# --- WADO-RS -----------------------------------------------------------------------------------------
def instance_files(
    projects: QuerySet[Project], study: str, series: str = "", instance: str = ""
) -> QuerySet[File]:
    """The files of a study, series or instance the user may read, in order; NotFound if none."""
    qs = instances(projects).filter(resource__scan__session__study_instance_uid=study)
    if series:
        qs = qs.filter(resource__scan__series_instance_uid=series)
    if instance:
        qs = qs.filter(sop_instance_uid=instance)
    if not qs.exists():
        raise NotFound("Not found")
    return qs.order_by("resource__scan__session_id", "resource__scan__sort_key", "name")


def file_paths(files: QuerySet[File]) -> Iterator[Path]:
    """Each file's absolute path, read from the database a batch at a time."""
    for relative in files.values_list("path", flat=True).iterator(chunk_size=500):
        yield layout.absolute_path(relative)
