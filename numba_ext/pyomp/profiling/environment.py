"""`PYOMP_PROFILE=out.json python script.py`: the whole run profiled, the trace written at
exit (a `.png` name draws the timeline instead) and the summary printed to stderr."""

import atexit
import os
import sys

DEFAULT_PATH = "pyomp-profile.json"


def start_from_environment():
    """Starts the run's profile when PYOMP_PROFILE names a file (or is 1); at import."""
    path = os.environ.get("PYOMP_PROFILE", "").strip()
    if not path or path == "0":
        return None
    if path == "1":
        path = DEFAULT_PATH
    from .profile import Profile
    prof = Profile().start()
    atexit.register(_finish, prof, path)
    return prof


def _finish(prof, path):
    prof.stop()
    try:
        if path.lower().endswith(".png"):
            prof.plot(path)
        else:
            prof.save(path)
    except (OSError, ImportError) as e:  # ImportError: a .png without matplotlib
        print(f"pyomp: PYOMP_PROFILE: cannot write {path!r}: {e}\n{prof.summary()}",
              file=sys.stderr)
        return
    print(f"pyomp: profile written to {path} (PYOMP_PROFILE)\n{prof.summary()}",
          file=sys.stderr)
