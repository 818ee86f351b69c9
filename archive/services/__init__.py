"""Every write to the archive: one module per entity (subjects, sessions, scans, resources and their
files), plus accession IDs and what they share (descriptive fields, folders). Each write checks
permission (xnatlite/permissions.py) and leaves an audit record; projects and their users are
xnatlite/projects.py's. Archiving from the prearchive is archiving/'s."""
