"""The archive: projects, subjects, sessions, scans, resources, files; roles, layout and audit."""
