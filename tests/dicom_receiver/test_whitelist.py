"""A receiver's AE title and whitelist syntaxes (xnat-spec.md §5.2)."""

import pytest

from dicom_receiver import whitelist
from xnatlite.errors import InvalidInput


@pytest.mark.parametrize("title", ["XNATLITE", "A B", "x" * 16, "!~"])
def test_good_ae_titles(title):
    assert whitelist.check_ae_title(title) == title


@pytest.mark.parametrize("title", ["", "   ", "x" * 17, "A\\B", "é"])
def test_bad_ae_titles(title):
    with pytest.raises(InvalidInput):
        whitelist.check_ae_title(title)


def test_the_whitelist_takes_titles_addresses_networks_and_both():
    entries = whitelist.parse_whitelist("SCANNER1\n10.1.0.0/16, PACS@192.168.1.5\n::1")
    assert whitelist.whitelist_allows(entries, "SCANNER1", "172.16.0.1")
    assert whitelist.whitelist_allows(entries, "ANY", "10.1.200.3")
    assert whitelist.whitelist_allows(entries, "PACS", "192.168.1.5")
    assert not whitelist.whitelist_allows(entries, "PACS", "192.168.1.6")
    assert not whitelist.whitelist_allows(entries, "OTHER", "192.168.1.5")
    assert whitelist.whitelist_allows(entries, "X", "::1")
    assert whitelist.whitelist_allows([], "ANYONE", "1.2.3.4")
    with pytest.raises(InvalidInput, match="not an IP"):
        whitelist.parse_whitelist("PACS@somewhere")
