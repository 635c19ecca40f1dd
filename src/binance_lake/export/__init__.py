"""Exporters: the lake's rows written to other tools' formats and databases (Qlib, CSV, PostgreSQL)."""
