"""Quality: the lake proves what it holds, and shows it.

`check` (run.py): integrity (integrity.py), rules as data (rules.py) run in DuckDB over the Parquet
(scan.py), gaps classified (gaps.py), all recorded per run in lake tables this package owns (store.py);
`health` (health.py) reads the last run and the sync state; `report` (report.py) renders one self-contained
HTML page. Sits beside the catalog: it reads storage/ and parses kept raw zips with binance/csv_parse.py, and
never opens a network connection.
"""
