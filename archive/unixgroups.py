"""Per-project Unix groups on the archive (XNATLITE_PROJECT_GROUPS, DESIGN.md "Data on disk").

With the setting on and a project's `unix_group` set, the project's archive folder and everything
in it belong to that group: folders `rwxr-s---` (setgid, so what is created later inherits the
group), files `rw-r-----`. Nobody outside the group can read the data, so read access from the
compute cluster follows project membership once the group's members match the project's. The
process that writes the archive must be root or a member of the group.
"""

from __future__ import annotations

import grp
import logging
import os
from pathlib import Path

from django.conf import settings

from xnatlite import layout
from xnatlite.errors import InvalidInput
from xnatlite.models import Project

log = logging.getLogger(__name__)

FOLDER_MODE = 0o2750  # setgid; owner writes, group reads and enters, others nothing
FILE_MODE = 0o640


def project_gid(project: Project) -> int | None:
    """The numeric group of a project's archive, or None when groups are off or none is set."""
    if not settings.PROJECT_GROUPS or not project.unix_group:
        return None
    try:
        return grp.getgrnam(project.unix_group).gr_gid
    except KeyError:
        raise InvalidInput(
            f"Unix group '{project.unix_group}' of project {project.id} does not exist on this machine"
        ) from None


def _set(path: Path, gid: int, mode: int) -> None:
    os.chown(path, -1, gid, follow_symlinks=False)
    os.chmod(path, mode)  # after chown: changing the group clears setgid on some systems


def apply_to_tree(root: Path, gid: int) -> int:
    """Give a folder and everything below it the group and modes; returns how many paths changed."""
    count = 0
    _set(root, gid, FOLDER_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _set(Path(folder) / name, gid, FOLDER_MODE)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                _set(path, gid, FILE_MODE)
        count += len(dirs) + len(files)
    return count + 1


def prepare_project_folder(project: Project) -> Path:
    """Create `archive/{project}/arc001/` and, with a group, give both levels the group and setgid."""
    arc = layout.archive_project_dir(project.id) / layout.ARCHIVE_ARC
    arc.mkdir(parents=True, exist_ok=True)
    gid = project_gid(project)
    if gid is not None:
        for folder in (arc.parent, arc):
            _set(folder, gid, FOLDER_MODE)
    return arc


def apply_project_group(project: Project) -> int:
    """Re-apply the project's group to its whole archive folder (after an admin changed the group)."""
    gid = project_gid(project)
    folder = layout.archive_project_dir(project.id)
    if gid is None or not folder.exists():
        return 0
    changed = apply_to_tree(folder, gid)
    log.info("project %s: group %s applied to %d paths", project.id, project.unix_group, changed)
    return changed
