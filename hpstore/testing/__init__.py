"""For tests, benchmarks and ``hpstore demo``: a camera ``simulator`` that writes real DNG, JPEG and TIFF
files with planted defects, ``natural`` scenes, ``lifetime`` (defects appearing over years),
``evaluation`` (scoring a ranking against the planted truth) and ``faults`` (crash checkpoints)."""
