"""Where a stored day's rows came from: the vocabulary of `day_provenance` (and `file_state.provenance`).

Pure. A day filled from REST or a stream is replaced when the archive publishes it; a day held from daily
archive files flips to `archive_monthly` when the month's file replaces them. The values are the spellings
`file_state.provenance` has stored since before versions existed, so the two tables share one vocabulary.
"""

from __future__ import annotations

from enum import StrEnum

from binance_lake.core.vocabulary import Cadence


class Provenance(StrEnum):
    """The source of a stored day's rows."""

    ARCHIVE_MONTHLY = "archive_monthly"
    ARCHIVE_DAILY = "archive_daily"
    REST = "rest"
    STREAM = "stream"

    @classmethod
    def of_archive(cls, cadence: Cadence) -> Provenance:
        """The provenance of rows read from an archive file of this cadence."""
        return cls.ARCHIVE_MONTHLY if cadence is Cadence.MONTHLY else cls.ARCHIVE_DAILY
