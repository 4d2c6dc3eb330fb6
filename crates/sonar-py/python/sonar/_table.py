"""Tables across the boundary with the Rust half: row labels and column names as lists,
values as the bytes of a row-major float64 array. pandas is used when the caller passes a
DataFrame or has pandas installed; without it a table is a dict of columns."""

import array
import datetime as _dt
import math
import sys
from collections.abc import Mapping

from sonar.errors import DataFormatError

#: Column holding row labels in a dict table (and the index name of returned DataFrames).
LABEL_COLUMN = "timestamp"


def pandas():
    """The pandas module if it is installed, else None (never imported eagerly)."""
    if "pandas" in sys.modules:
        return sys.modules["pandas"]
    try:
        import pandas as pd  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    return pd


def is_dataframe(data):
    mod = type(data).__module__ or ""
    return mod.startswith("pandas") and hasattr(data, "columns") and hasattr(data, "index")


def iso(label):
    """A time label as RFC 3339 UTC (naive times are taken as UTC); other labels as str."""
    if isinstance(label, _dt.datetime):
        if label.tzinfo is None:
            label = label.replace(tzinfo=_dt.timezone.utc)
        label = label.astimezone(_dt.timezone.utc)
        text = label.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return str(label)


class Table:
    """Labels, columns, values (bytes) and the caller's original row labels."""

    __slots__ = ("labels", "columns", "values", "original")

    def __init__(self, labels, columns, values, original):
        self.labels, self.columns, self.values, self.original = labels, columns, values, original

    def __len__(self):
        return len(self.labels)


def to_table(data, *, positional=False, sort=False):
    """Converts a DataFrame (or a dict of equal-length columns, its optional ``timestamp``
    column giving the row labels) into a Table. ``sort`` sorts rows by label first (as the
    reference does); ``positional`` sends zero-padded row positions as labels, so any index
    type keeps its order, and ``original`` maps them back."""
    if is_dataframe(data):
        if sort:
            data = data.sort_index(kind="stable")
        columns = [str(c) for c in data.columns]
        try:
            matrix = data.to_numpy(dtype="float64", na_value=float("nan"))
        except (TypeError, ValueError) as e:
            raise DataFormatError(f"Cannot convert values to float. {e}") from None
        import numpy as np  # noqa: PLC0415 (pandas depends on numpy)

        values = np.ascontiguousarray(matrix, dtype="<f8" if sys.byteorder == "little" else ">f8").tobytes()
        original = list(data.index)
    elif isinstance(data, Mapping):
        columns = [str(c) for c in data if c != LABEL_COLUMN]
        cols = [list(data[c]) for c in data if c != LABEL_COLUMN]
        n = len(cols[0]) if cols else 0
        if any(len(c) != n for c in cols):
            raise DataFormatError("every column must have the same number of rows")
        original = list(data[LABEL_COLUMN]) if LABEL_COLUMN in data else list(range(n))
        if len(original) != n:
            raise DataFormatError(f"`{LABEL_COLUMN}` has {len(original)} labels for {n} rows")
        order = sorted(range(n), key=lambda i: original[i]) if sort else range(n)
        values = array.array("d")
        try:
            for i in order:
                values.extend(math.nan if c[i] is None else float(c[i]) for c in cols)
        except (TypeError, ValueError) as e:
            raise DataFormatError(f"Cannot convert values to float. {e}") from None
        original = [original[i] for i in order]
        values = values.tobytes()
    else:
        raise DataFormatError(
            f"data must be a pandas.DataFrame or a dict of columns, not {type(data).__name__}"
        )
    if positional:
        width = len(str(len(original)))
        labels = [str(i).zfill(width) for i in range(len(original))]
    else:
        labels = [iso(x) for x in original]
    return Table(labels, columns, values, original)


def from_table(labels, columns, values):
    """A DataFrame indexed by bucket time (UTC) when pandas is installed, else a dict of
    columns with the labels under ``timestamp``."""
    flat = array.array("d")
    flat.frombytes(values)
    k = len(columns)
    pd = pandas()
    if pd is not None:
        import numpy as np  # noqa: PLC0415

        matrix = np.frombuffer(values, dtype="float64").reshape(len(labels), k) if k else np.empty((len(labels), 0))
        index = pd.DatetimeIndex(pd.to_datetime(labels, utc=True), name=LABEL_COLUMN)
        return pd.DataFrame(matrix.copy(), index=index, columns=list(columns))
    table = {LABEL_COLUMN: list(labels)}
    for j, name in enumerate(columns):
        table[name] = [flat[i * k + j] for i in range(len(labels))]
    return table
