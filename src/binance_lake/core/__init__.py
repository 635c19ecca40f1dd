"""Layer 0, the pure core: Binance's vocabulary, the dataset registry, archive file identity, lake
partitions, time ranges, settings and errors. No network, no disk database, no wire-format parsing."""
