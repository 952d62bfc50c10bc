"""hpstore: find hot, stuck and dead sensor pixels in photo archives, and keep the evidence.

The library behind the ``hpstore`` command; each command is one call::

    from hpstore.settings import load_settings
    from hpstore.ingest import ingest
    from hpstore.query import query

    settings = load_settings(store="~/hpstore-store")
    ingest(["~/Pictures/2024"], settings)
    query(settings, top=20)

Modules: ``stats`` (mergeable statistics), ``decode``, ``ingest``, ``analysis`` and ``lines`` (ranking),
``query`` (read side), ``check``, ``catalog`` (SQL), ``statestore`` (Zarr), ``simulator`` (test camera).
"""

__version__ = "0.1.0"
