"""The pieces of the user's API: `Lake`'s method groups (`base.py`'s `LakeBase`, `sync.py`'s `SyncMethods`,
`update.py`'s `UpdateMethods`, `reading.py`'s `ReadMethods` with `load`'s `source=` in `sources.py`),
`Lake.catalog` (`catalog.py`), the bridge
from synchronous calls to the async core and one online operation with its clients (`loop.py`), a sync under
the writer lock (`sync.py`), the readers' `fill=True` (`fill.py`), frame conversion (`frames.py`), the old
keyword spellings (`keywords.py`) and the rule that reading never creates a lake (`existing.py`).

One layer below `binance_lake.lake` and above the stages (engine, load, catalog): `Lake` delegates here, and
the stages own their requests and parsing. Import from `binance_lake.lake` in user code.
"""
