"""The Binance simulator: a loopback server speaking the archive's, the REST API's and the WebSocket's wire
formats over a deterministic synthetic universe with Binance's quirks and scriptable faults.

It depends only on the core, never on the client code it is used to test."""
