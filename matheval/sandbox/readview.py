"""The read view: the only files a program can read, decided once in the zygote after its imports.

What Python and the allowed imports need, and nothing else: the standard library (without its
site-packages), the packages the zygote pre-imported (numpy, sympy and what they imported, e.g. mpmath),
the system's shared-library directories (a lazily imported extension such as _sqlite3 loads its library
from there), time zones, a few device files, and the pool's folder of working directories. Not visible:
the project tree, the virtualenv's other packages (torch, transformers, the model), benchmark data,
home folders, /proc, /sys, /etc. Both the mount namespace (mountview.py) and Landlock (landlock.py) enforce it.
"""

from __future__ import annotations

import importlib.util
import os
import site
import sys
import sysconfig
from dataclasses import dataclass, field

DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
SYSTEM_FILES = ("/etc/ld.so.cache",)  # the dynamic loader's index of libraries
SYSTEM_DIRS = ("/usr/share/zoneinfo",)
SITE_NAMES = ("site-packages", "dist-packages")


@dataclass
class ReadView:
    dirs: list[str] = field(default_factory=list)  # readable with everything beneath, except `hidden`
    files: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # package folders inside `dirs`: covered, not granted
    scratch_root: str = ""  # the pool's folder of working directories (each program sees only its own)

    def as_dict(self) -> dict:
        return {"dirs": self.dirs, "files": self.files, "hidden": self.hidden, "scratch_root": self.scratch_root}


def _real_dir(path: str | None) -> str | None:
    if not path:
        return None
    real = os.path.realpath(path)
    return real if os.path.isdir(real) else None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def site_dirs() -> list[str]:
    """Every package folder this interpreter or its base installation could import from."""
    found = list(site.getsitepackages()) + [site.getusersitepackages()]
    for base in (sys.base_prefix, sys.prefix):
        for key in ("purelib", "platlib"):
            found.append(sysconfig.get_path(key, vars={"base": base, "platbase": base}))
    found += [p for p in sys.path if os.path.basename(p.rstrip("/")) in SITE_NAMES]
    return sorted({d for d in map(_real_dir, found) if d})


def _origin(name: str) -> str | None:
    """The file a top-level module is (or would be) loaded from, without importing it."""
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__file__", None)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def package_paths(top_level_names: set[str], sites: list[str]) -> list[str]:
    """Where the allowed top-level packages live (their folder, or file for a one-file module), plus the
    `<name>.libs` folders that wheels ship their shared libraries in."""
    paths = set()
    for name in top_level_names:
        location = _origin(name)
        if not location:
            continue
        location = os.path.realpath(location)
        if os.path.basename(location) == "__init__.py" or location.endswith(("/__init__.pyc",)):
            location = os.path.dirname(location)
        if not any(_inside(location, s) for s in sites):
            continue  # the standard library, or a path the installation grants anyway
        paths.add(location)
        libs = os.path.join(os.path.dirname(location), f"{name}.libs")
        if os.path.isdir(libs):
            paths.add(libs)
    return sorted(paths)


def _library_dirs() -> list[str]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = ["/lib64", "/usr/lib64"]
    if multiarch:
        candidates += [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"]
    return [d for d in map(_real_dir, candidates) if d]


def _installation_dirs(sites: list[str]) -> list[str]:
    """The standard library and lib-dynload: sys.path entries inside the base installation."""
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    stdlib = [sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib", vars={"platbase": sys.base_exec_prefix})]
    found = []
    for path in stdlib + list(sys.path):
        real = _real_dir(path)
        if real and any(_inside(real, p) for p in prefixes) and not any(_inside(real, s) for s in sites):
            found.append(real)
    return found


def compute(allowed_packages: set[str], scratch_root: str) -> ReadView:
    sites = site_dirs()
    packages = set(package_paths(allowed_packages, sites))
    grants = _installation_dirs(sites) + sorted(packages) + _library_dirs()
    grants += [d for d in map(_real_dir, SYSTEM_DIRS) if d]
    dirs = sorted({p for p in grants if os.path.isdir(p)})
    files = sorted({p for p in grants if os.path.isfile(p)} | {p for p in SYSTEM_FILES if os.path.isfile(p)}
                   | {p for p in DEVICE_FILES if os.path.exists(p)})
    hidden = set()
    for folder in dirs:  # package folders inside a granted folder (the stdlib's own site-packages)
        hidden |= {s for s in sites if _inside(s, folder) and s != folder}
        hidden |= {os.path.join(folder, name) for name in SITE_NAMES if os.path.isdir(os.path.join(folder, name))}
    hidden -= packages
    dirs = [d for d in dirs if d in packages or not any(_inside(d, h) for h in hidden)]
    return ReadView(dirs=dirs, files=files, hidden=sorted(hidden), scratch_root=scratch_root)


def landlock_grants(view: ReadView) -> list[str]:
    """The paths whose files may be read, such that none contains a hidden folder: a granted folder with
    a hidden one below it is replaced by its entries, level by level down to the hidden folder."""
    grants: list[str] = []

    def grant(folder: str) -> None:
        below = [h for h in view.hidden if _inside(h, folder) and h != folder]
        if not below:
            grants.append(folder)
            return
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            return
        for entry in entries:
            path = os.path.join(folder, entry)
            if path in view.hidden:
                continue
            if any(_inside(h, path) for h in below) and os.path.isdir(path) and not os.path.islink(path):
                grant(path)
            else:
                grants.append(path)

    for folder in view.dirs:
        outermost = not any(_inside(folder, other) and folder != other for other in view.dirs)
        if outermost:
            grant(folder)
        elif any(_inside(folder, h) for h in view.hidden):  # a package inside a hidden site-packages
            grants.append(folder)
    grants += view.files
    if view.scratch_root:
        grants.append(view.scratch_root)
    return grants
