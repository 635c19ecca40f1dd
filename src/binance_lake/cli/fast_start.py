"""Start-up of the `sync` command: pyarrow is told pandas is absent, so the sync never imports pandas.

pyarrow imports pandas on its first conversion of any Python object (`pa.scalar`, `pa.array` of a list), only
to ask whether the object is a DataFrame, and `import pyarrow.dataset` asks the same; `python -X importtime`
puts that import at 0.3-1.4 s of a sync's start-up on the benchmark machine (bench/peers.py). The sync command
never hands pyarrow a pandas object and never converts to pandas, so its process answers that question once
with "no pandas", before `sync_cmd` imports the `Lake` (which imports pyarrow.dataset only for an object-storage
lake's views, `load/views.py`). Only a process started
as the command line (`cli.app.main` calls `command_line_process`) is affected, never one that runs the CLI
in-process (tests, library users of `Lake.sync`); `import pandas` itself keeps working.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

_COMMAND_LINE = False


def command_line_process() -> None:
    """Mark this process as the command line's own (its console-script entry point runs one command)."""
    global _COMMAND_LINE
    _COMMAND_LINE = True


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def pyarrow_without_pandas() -> None:
    """Make pyarrow's once-per-process pandas check answer "absent" without importing pandas. Call it
    before anything converts Python objects with pyarrow; a no-op when pandas is already imported, or when
    the process is not the command line's own."""
    if not _COMMAND_LINE or "pandas" in sys.modules:
        return
    import pyarrow as pa  # here, not at the top: cli/app.py imports this module for every command

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.scalar(0)  # pyarrow's shim tries `import pandas` here, once, and remembers the answer
    finally:
        sys.meta_path.remove(finder)
