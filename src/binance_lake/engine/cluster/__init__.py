"""`sync --cluster`: the plan made once on the client, its work items (a month's files of one series, or one
tick file) run on Dask workers in batches of neighbouring items (one task each) that download, verify and
ingest into the shared root, and their results recorded by the client, the only writer of lake.duckdb.

`spec.py` says where (a scheduler's address or a `LocalCluster` of N processes; pure, no Dask import),
`work.py` is one work item, a batch of them and the function a worker runs, `run.py` the client side
(Dask's asynchronous client, a bounded window of items in flight, one `StateWriter`). Dask is the optional
extra `cluster`.
"""
