"""pyomp.profile: per-thread timelines and a construct profile of pyomp programs
(docs/profiling.md; how the events are recorded: docs/design/profiler.md)."""

from .profile import Profile, ProfileError, profile
from .recorder import KINDS, WAITS
from .timeline import plot_timelines

__all__ = ["profile", "Profile", "ProfileError", "KINDS", "WAITS", "plot_timelines"]
