"""From a state to defects: ``cfa`` (colour filter layout and neighbour distances), ``rank`` (z-scores
against same-colour neighbours, the sign test, the ranking), ``classes`` (hot, stuck, dead, ... and the
calibrated confidence) and ``lines`` (bad rows and columns)."""
