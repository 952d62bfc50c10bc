"""The read-side commands behind ``hpstore.Store``'s methods: ``query`` (ranking, cameras, files, show),
``history`` (a pixel over time, a sensor's timeline), ``check``, ``compact``, ``chart`` and ``demo``."""
