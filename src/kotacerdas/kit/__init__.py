"""Domain-free helpers: time, geo, ids, pagination, files, working days. Imports no domain."""
