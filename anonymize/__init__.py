"""Anonymization: the DicomEdit 6 interpreter and the site and project scripts."""
