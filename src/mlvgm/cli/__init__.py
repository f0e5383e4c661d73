"""The ``mlvgm`` command line: one sub-command per job."""
