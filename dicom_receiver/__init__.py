"""The DICOM receiver: C-ECHO and C-STORE SCP feeding the one ingest path."""
