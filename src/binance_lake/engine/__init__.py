"""Layer 3: the sync engine: plan (pure) -> bounded-concurrency fetch -> verify -> parse -> write."""
