"""Data beyond memory: partitioned Parquet/SQL sources, the streaming quality pass, the Dask engine."""
