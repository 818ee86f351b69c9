"""DICOM without Django: the association acceptor and DIMSE, fast Part 10 read and write, and raw
element walking, each checked byte for byte against pydicom or pynetdicom (tests/dicomio/)."""
