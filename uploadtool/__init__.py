"""xnatlite-upload: send a folder of DICOM files to an xnatlite (or XNAT) server, study by study.

It does what XNAT's desktop Upload Assistant does, from a terminal: finds the DICOM studies in a
folder (skipping everything else), shows them, and uploads the chosen ones into a project's
prearchive (or straight into the archive) through the server's import service, with progress. It
needs only the Python standard library and pydicom, so it runs on a scanner console or a laptop
without the rest of xnatlite.
"""
