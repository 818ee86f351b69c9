"""The DicomEdit 6 statements and functions real scripts use beyond the basics (issue 15): if/else blocks,
set, lookup, mapReferencedUIDs, getURL, shiftDateTimeSequenceByIncrement, and xnatlite's subject date
shift and ageAt, each on a dataset built in the test."""

import http.server
import threading

import pytest
from pydicom.dataset import Dataset

from anonymize.dicomedit import ScriptRuntimeError, Services, hash_uid, map_uid, parse_script
from tests.anonymize.dicomedit.datasets import VARIABLES, item, run, seq


def apply(script: str, ds: Dataset, services: Services, variables=VARIABLES):
    return parse_script('version "6.3"\n' + script).apply(ds, variables, services=services)


# --- if / else blocks --------------------------------------------------------------------------------------

BLOCKS = """
if ((0008,0060) = "MR") {
    (0008,103E) := "MR series"
    (0010,0020) ~ "MRN.*" ? (0010,0020) := "hidden"
} else if (project ~ "P[0-9]") {
    (0008,103E) := concatenate["CT of ", project]
}
else {
    - (0008,103E)
}
"""


def test_if_block_runs_the_first_true_branch(ds):
    run(BLOCKS, ds)
    assert ds.SeriesDescription == "MR series"
    assert ds.PatientID == "hidden"


def test_else_if_branch(ds):
    ds.Modality = "CT"
    run(BLOCKS, ds)
    assert ds.SeriesDescription == "CT of P1"
    assert ds.PatientID == "MRN123"  # the first branch did not run


def test_else_branch(ds):
    ds.Modality = "CT"
    run(BLOCKS, ds, {"project": "Other", "subject": "S", "session": "E"})
    assert "SeriesDescription" not in ds


def test_blocks_nest_and_sit_on_one_line(ds):
    run('if (project = "P1") { if ((0008,0060) != "CT") { (0008,103E) := "nested" } }', ds)
    assert ds.SeriesDescription == "nested"


def test_a_failure_inside_a_block_names_its_own_line(ds):
    with pytest.raises(ScriptRuntimeError) as caught:
        run('if (project = "P1") {\n(0008,103E) := "ok"\n(0008,103E) := undefined_variable\n}', ds)
    assert caught.value.line == 4


def test_reject_inside_a_block(ds):
    assert run('if ((0008,0060) = "MR") {\nreject\n}', ds).rejected


def test_a_tag_in_parentheses_still_reads_as_a_tag(ds):
    run('(0008,0060) = "MR" ? (0008,103E) := (0010,0020)', ds)
    assert ds.SeriesDescription == "MRN123"


# --- set, lookup, getURL -------------------------------------------------------------------------------------


def test_set_is_assignment(ds):
    run('set["(0008,1030)", "Study"]\nset[(0008,1140)[0]/(0008,1155), "9.9"]', ds)
    assert ds.StudyDescription == "Study"
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == "9.9"


def test_lookup_maps_through_the_table(ds):
    table = {("pid", "MRN123"): "SUBJ_007"}
    services = Services(lookup=lambda category, key: table.get((category, key)))
    result = apply('(0010,0020) := lookup["pid", (0010,0020)]', ds, services)
    assert ds.PatientID == "SUBJ_007"
    assert result.warnings == []


def test_lookup_of_an_unknown_key_writes_nothing_identifying(ds):
    result = apply('(0010,0020) := lookup["pid", (0010,0020)]', ds, Services(lookup=lambda c, k: None))
    assert ds.PatientID == ""
    assert "no value for pid/MRN123" in result.warnings[0]


def test_lookup_without_a_table_fails_the_run(ds):
    with pytest.raises(ScriptRuntimeError, match="no lookup table"):
        run('(0010,0020) := lookup["pid", (0010,0020)]', ds)


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 -- the standard library's name
        body = f"label-for{self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    """A tiny HTTP server on a free loopback port, in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_get_url_through_the_guarded_fetcher(ds, local_server, settings):
    from anonymize.services import url_fetcher

    settings.SCRIPT_URL_PREFIXES = [local_server + "/ids/"]
    fetch = url_fetcher()
    assert fetch is not None
    script = '(0010,0020) := getURL[concatenate["' + local_server + '/ids/", (0010,0020)]]'
    apply(script, ds, Services(get_url=fetch))
    assert ds.PatientID == "label-for/ids/MRN123"
    with pytest.raises(ScriptRuntimeError, match="not among the URLs"):
        apply('(0010,0020) := getURL["' + local_server + '/other"]', ds, Services(get_url=fetch))


def test_get_url_is_off_by_default(ds, settings):
    from anonymize.services import url_fetcher

    settings.SCRIPT_URL_PREFIXES = []
    assert url_fetcher() is None
    with pytest.raises(ScriptRuntimeError, match="getURL is turned off"):
        run('(0010,0020) := getURL["http://127.0.0.1:1/x"]', ds)


# --- UIDs ----------------------------------------------------------------------------------------------------


def test_map_referenced_uids_maps_instances_and_references_alike():
    image, rtstruct = Dataset(), Dataset()
    image.SOPInstanceUID = "1.2.3.4.5"
    rtstruct.ReferencedFrameOfReferenceSequence = seq(
        item(
            RTReferencedStudySequence=seq(
                item(
                    RTReferencedSeriesSequence=seq(
                        item(ContourImageSequence=seq(item(ReferencedSOPInstanceUID="1.2.3.4.5")))
                    )
                )
            )
        )
    )
    script = 'root := "1.23.4"\nmapReferencedUIDs[root, "(0008,0018)"]\n'
    script += 'mapReferencedUIDs[root, "(3006,0010)/(3006,0012)/(3006,0014)/(3006,0016)/(0008,1155)"]'
    run(script, image)
    run(script, rtstruct)
    contour = rtstruct[0x30060010][0][0x30060012][0][0x30060014][0][0x30060016][0]
    assert image.SOPInstanceUID.startswith("1.23.4.")
    assert contour.ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert len(image.SOPInstanceUID) <= 64
    assert map_uid("", "1.2.3.4.5") == hash_uid("1.2.3.4.5")


# --- dates ---------------------------------------------------------------------------------------------------


def test_shift_date_time_sequence_by_increment_reaches_every_item():
    ds = Dataset()
    ds.AcquisitionDateTime = "20240101120000"  # not under the path: unchanged
    ds.PerFrameFunctionalGroupsSequence = seq(
        item(FrameContentSequence=seq(item(FrameAcquisitionDateTime="20240101120000.5"))),
        item(FrameContentSequence=seq(item(FrameAcquisitionDateTime="20231231235500"))),
    )
    run('shiftDateTimeSequenceByIncrement["600", "(5200,9230)/(0020,9111)/(0018,9074)"]', ds)
    frames = [group.FrameContentSequence[0].FrameAcquisitionDateTime for group in ds[0x52009230]]
    assert frames == ["20240101121000.5", "20240101000500"]
    assert ds.AcquisitionDateTime == "20240101120000"
    run('shiftDateTimeSequenceByIncrement[-2, "+/(0018,9074)", "days"]', ds)
    frames = [group.FrameContentSequence[0].FrameAcquisitionDateTime for group in ds[0x52009230]]
    assert frames == ["20231230121000.5", "20231230000500"]


def test_subject_date_shift_moves_dates_by_whole_days_and_keeps_times(ds):
    asked = []

    def shift() -> int:
        asked.append(1)
        return -40

    ds.StudyTime = "101500"
    ds.AcquisitionDateTime = "20240131101500.25"
    script = 'shiftSubjectDates["(0008,0020)", "(0008,0030)", "(0008,002A)"]\n'
    script += "(0008,0021) := shiftDateByIncrement[(0008,0020), subjectDateShift[]]"
    apply(script, ds, Services(subject_date_shift=shift))
    assert ds.StudyDate == "20231222"
    assert ds.StudyTime == "101500"
    assert ds.AcquisitionDateTime == "20231222101500.25"
    assert ds.SeriesDate == "20231112"  # shifted twice: from the already-shifted study date
    assert asked == [1]  # drawn once per run


def test_subject_date_shift_needs_a_project_script(ds):
    with pytest.raises(ScriptRuntimeError, match="only in project scripts"):
        run('shiftSubjectDates["(0008,0020)"]', ds)


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        ("19800102", "20240131", "044Y"),
        ("19800201", "20240131", "043Y"),
        ("20231115", "20240131", "002M"),
        ("20240110", "20240131", "003W"),
        ("20240129", "20240131", "002D"),
        ("", "20240131", ""),
        ("2024", "20240131", ""),
    ],
)
def test_age_at(born, on, age):
    ds = Dataset()
    ds.PatientBirthDate, ds.StudyDate = born, on
    run("(0010,1010) := ageAt[(0010,0030), (0008,0020)]", ds)
    assert ds.PatientAge == age
