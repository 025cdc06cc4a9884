-- A view over scored Parquet parts, read by name and stacked on the schema's empty table:
-- parts written before a nullable column existed (predicted_stars) read it as null, and
-- days of different models mix. Filled in by the report: name (the view), paths (a list
-- of quoted paths).
CREATE VIEW {name} AS
SELECT * FROM read_parquet({paths}, union_by_name = true)
UNION ALL BY NAME SELECT * FROM scored_empty;
