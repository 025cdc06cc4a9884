-- One row per review and class of the day and the trailing window: (period, class, p).
-- Only class decisions: a row labelled outside the classes (e.g. empty_text) has no
-- belief to compare. Filled in by the report: columns (the quoted p_<class> columns),
-- decided (the condition that the predicted label is one of the classes).
CREATE VIEW scored_probabilities AS
UNPIVOT (
    SELECT 'day' AS period, {columns} FROM scored_day_raw WHERE {decided}
    UNION ALL SELECT 'trailing' AS period, {columns} FROM scored_window_raw WHERE {decided}
)
ON {columns} INTO NAME class VALUE p;
