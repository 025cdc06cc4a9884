-- A view for a period with no scored parts: the rows (none) and columns of `source`.
-- Filled in by the report: name (the view), source (a table or query).
CREATE VIEW {name} AS SELECT * FROM {source};
