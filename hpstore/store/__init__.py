"""Where everything is kept: the Zarr state (``state``), the SQL catalog (``catalog``), the writer lock
(``lock``), and ``storage``, which opens the catalog and state of one store together."""
