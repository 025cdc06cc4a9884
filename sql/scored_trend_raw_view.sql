-- The trailing window's and the day's scored rows, each with the day its folder names
-- (scored_date). Filled in by the report: paths (a list of quoted paths),
-- day_folder_pattern (the layout's date=YYYY-MM-DD pattern, one group).
CREATE VIEW scored_trend_raw AS
SELECT *, CAST(regexp_extract(filename, '{day_folder_pattern}', 1) AS DATE) AS scored_date
FROM (
    SELECT * FROM read_parquet({paths}, filename = true, union_by_name = true)
    UNION ALL BY NAME SELECT *, '' AS filename FROM scored_empty
);
