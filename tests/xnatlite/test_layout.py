"""Paths come only from valid labels; nothing a user types can leave the data root."""

import pytest

from xnatlite import layout
from xnatlite.errors import InvalidLabel

BAD_LABELS = ["", "..", ".", "/", "a/b", "a b", " a", "é", "名前", "x" * 65, "a\x00b", "a\\b", "$HOME", "a.b"]


@pytest.mark.parametrize("bad", BAD_LABELS)
def test_check_label_refuses_with_a_clear_message(bad):
    with pytest.raises(InvalidLabel) as exc:
        layout.check_label(bad, "Subject label")
    message = exc.value.message
    assert message.startswith("Subject label")
    assert any(words in message for words in ("must not be empty", "longer than 64", "may only contain"))


@pytest.mark.parametrize("good", ["a", "A_1-b", "x" * 64, "0"])
def test_check_label_accepts_label_characters(good):
    assert layout.check_label(good) == good


def test_clean_label_turns_other_characters_into_underscores():
    assert layout.clean_label("DOE^JOHN") == "DOE_JOHN"
    assert layout.clean_label(" 1.2 3 ") == "1_2_3"
    assert layout.clean_label("é" * 70) == "_" * 64


def test_archive_paths_follow_xnat_layout(data_root):
    assert layout.archive_scan_dir("P", "E1", "4-MR1") == data_root / "archive/P/arc001/E1/SCANS/4-MR1"
    assert layout.prearchive_session_dir(None, "20240102_101010123", "E1") == (
        data_root / "prearchive/20240102_101010123/E1"
    )
    assert layout.scan_catalog_name("4") == "scan_4_catalog.xml"
    with pytest.raises(InvalidLabel):
        layout.archive_session_dir("P", "../../etc")
    with pytest.raises(InvalidLabel):
        layout.prearchive_session_dir("P", "2024/../..", "E1")


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a//b", ".hidden", "a/../b", "", "a/./b", "a\\b"])
def test_file_names_inside_resources_cannot_escape(bad):
    with pytest.raises(InvalidLabel):
        layout.check_file_name(bad)


def test_file_names_may_have_folders_and_dots():
    assert layout.check_file_name("notes/hello world.txt") == "notes/hello world.txt"
    assert layout.check_file_name("1.2.840.113619.dcm") == "1.2.840.113619.dcm"


def test_absolute_path_refuses_to_leave_the_data_root(data_root):
    assert layout.absolute_path("archive/P/x") == data_root.resolve() / "archive/P/x"
    with pytest.raises(InvalidLabel):
        layout.absolute_path("../outside")


def test_scans_sort_by_the_number_their_id_starts_with_and_ids_without_one_last():
    ids = ["10", "NA", "2", "4-MR2", "_5", "4-MR1", "1", "4"]
    assert sorted(ids, key=layout.scan_order) == ["1", "2", "4", "4-MR1", "4-MR2", "10", "NA", "_5"]
    assert layout.scan_sort_key("99999999999") < layout.SCAN_WITHOUT_NUMBER  # fits the column, still first
