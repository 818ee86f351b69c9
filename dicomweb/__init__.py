"""DICOMweb (PS3.18) over the archive: QIDO-RS search, WADO-RS retrieval and STOW-RS storage, answering
each user only with what `xnatlite.permissions` lets them read (README "DICOMweb")."""
