"""The one error dicomio raises on purpose: bytes that are not a whole DICOM object.

The apps answer it where they call dicomio: ingest raises the services' own InvalidDicom
(xnatlite/errors.py), the receiver answers C210, archiving stores the reason on the session."""


class InvalidDicom(Exception):
    """Not DICOM, truncated or malformed, or without what is needed (its SOP UIDs, a file meta)."""
