"""Layer 2: data-quality checks over tables, returning reports (pure)."""
