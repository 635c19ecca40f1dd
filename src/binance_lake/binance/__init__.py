"""Layer 1: everything that knows Binance's wire formats and hosts (archive listing and files, REST,
WebSocket). Pure parsers turn bytes into Arrow; thin async clients take their HTTP session as an argument."""
