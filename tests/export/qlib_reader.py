"""Run by the pyqlib venv (.venv-qlib), never imported by the tests: read a Qlib dataset with the real library
and print what `D.features` returns as JSON lines, one per (instrument, time).

    .venv-qlib/bin/python tests/export/qlib_reader.py PROVIDER_DIR FREQ START END INSTRUMENT...

Prints {"instruments": [...all.txt as D.instruments lists it...]} first, then one object per row with the
instrument, the time (ISO) and the four expressions' values (NaN as null).
"""

from __future__ import annotations

import json
import math
import sys


def main() -> None:
    provider, freq, start, end, *instruments = sys.argv[1:]
    import qlib
    from qlib.data import D

    qlib.init(provider_uri=provider, region="us", kernels=1)
    listed = D.list_instruments(
        D.instruments("all"), start_time=start, end_time=end, freq=freq, as_list=False
    )
    spans = {name: [[str(a), str(b)] for a, b in spans] for name, spans in listed.items()}
    print(json.dumps({"instruments": spans}))
    fields = ["$close", "$volume", "$vwap", "Ref($close, 1)"]
    frame = D.features(instruments, fields, start_time=start, end_time=end, freq=freq)
    for (instrument, moment), row in frame.iterrows():
        values = [None if math.isnan(v) else float(v) for v in row.tolist()]
        print(json.dumps({"instrument": instrument, "time": moment.isoformat(), "values": values}))


if __name__ == "__main__":
    main()
