"""Which members of a model archive could write outside the folder it is unpacked into.

Model-zoo packages are zips; a member with an absolute path, a ``..`` component, a drive
letter or a symbolic link could land anywhere. Shared by the package check (stage 9) and
the fetched teacher (stage 3), which both refuse such an archive before unpacking it.
"""

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or ":" in name


def unsafe_members(path: Path) -> List[str]:
    """Members of the zip or tar archive at ``path`` that could escape its folder."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return [info.filename for info in z.infolist()
                    if _unsafe_name(info.filename)
                    or stat.S_ISLNK(info.external_attr >> 16)]
    with tarfile.open(path) as t:
        return [m.name for m in t.getmembers()
                if _unsafe_name(m.name) or m.issym() or m.islnk() or m.isdev()]
