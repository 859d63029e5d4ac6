"""Writing lifecycle records to CSV or Parquet, a replication at a time.

Records stream to the file as replications finish, so a run with millions of
incidents never holds them all. The format follows the file's suffix.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from drillhall.errors import InputError
from drillhall.simulator.lifecycle import RECORD_FIELDS, LifecycleRecord

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class RecordWriter:
    """Appends lifecycle records to ``path`` (``.csv`` or ``.parquet``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise InputError(
                f"cannot tell the format from the suffix {suffix or '(none)'!r}; "
                "name the file *.csv or *.parquet",
                source="--records",
                field=str(path),
            )
        self.format = FORMATS[suffix]
        self.count = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, records: Sequence[LifecycleRecord]) -> None:
        if self.format == "csv":
            self._write_csv(records)
        else:
            self._write_parquet(records)
        self.count += len(records)

    def _write_csv(self, records: Sequence[LifecycleRecord]) -> None:
        if self._file is None:
            self._file = self.path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            self._csv.writerow(RECORD_FIELDS)
        for record in records:
            self._csv.writerow(
                [_csv_value(getattr(record, name)) for name in RECORD_FIELDS]
            )

    def _write_parquet(self, records: Sequence[LifecycleRecord]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            name: [getattr(record, name) for record in records]
            for name in RECORD_FIELDS
        }
        table = pa.table(columns, schema=_parquet_schema())
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._file is None and self._parquet is None:
            # No record at all: still leave a file with the header or schema.
            if self.format == "csv":
                self._write_csv([])
            else:
                self._write_parquet([])
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _parquet_schema() -> Any:
    import pyarrow as pa

    instant = pa.timestamp("us", tz="UTC")
    kinds = {
        "false_alarm": pa.bool_(),
        "during_sleep": pa.bool_(),
        "escalation_level": pa.int32(),
        "escalations": pa.int32(),
        "replication": pa.int32(),
    }
    fields = []
    for name in RECORD_FIELDS:
        if name in kinds:
            fields.append(pa.field(name, kinds[name]))
        elif name in {
            "started",
            "detected",
            "acknowledged",
            "work_started",
            "mitigated",
            "resolved",
        }:
            fields.append(pa.field(name, instant))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)
