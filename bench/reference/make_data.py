"""Deterministic benchmark data: k noisy sines (periods 40..300), N rows, ISO-minute index.
Usage: python make_data.py N K OUT.csv  (only numpy/pandas from the reference venv)."""
import sys

import numpy as np
import pandas as pd

n, k, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
t = np.arange(n)[:, None]
x = np.sin(2 * np.pi * t / np.linspace(40, 300, k)[None, :] + np.arange(k)) + 0.05 * rng.standard_normal((n, k))
df = pd.DataFrame(x, columns=[f"v{i:02d}" for i in range(k)])
df.index = pd.date_range("2024-01-01", periods=n, freq="min").strftime("%Y-%m-%dT%H:%M:%SZ")
df.to_csv(out, index_label="timestamp", float_format="%.17g")
