"""The store: logs ingested once into plain, hive-partitioned Parquet, read incrementally.

Data flow: ``ingest`` reads the new bytes of each log source (``sources``), decodes them as
``report`` does (mlmon.logs), writes Parquet parts (``parts``) and commits the ``registry``
last; ``read`` turns the committed parts back into the records every command computes on;
``maintain`` compacts, prunes and describes a store.
"""
