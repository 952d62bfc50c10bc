"""The ``hpstore`` command line (installed as ``hpstore.cli``): parses options, calls the library, prints."""
