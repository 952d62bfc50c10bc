"""Time: calendar ``periods`` of the state, ``exposure`` classes, ``families`` (a camera's states over
periods and exposure classes, merged for a window), ``onset`` (when a defect first shows), ``dating``
(earlier photos read again to date found defects) and ``defects`` (the defects of a family over a window,
the one definition every command uses)."""
