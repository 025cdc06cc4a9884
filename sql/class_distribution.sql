-- How are the day's predictions split across labels, compared with the trailing window
-- before it and with the training data? Every label that occurs anywhere is listed
-- (labels outside the model's classes, e.g. `empty_text`, too); the report orders them.
-- Views: scored_day, scored_window (trailing days, excluding the day),
-- training_labels (label, n): the model's training split.
WITH day_counts AS (
    SELECT predicted_label AS label, count(*) AS n FROM scored_day GROUP BY 1
),
trailing_counts AS (
    SELECT predicted_label AS label, count(*) AS n FROM scored_window GROUP BY 1
),
training_counts AS (
    SELECT label, sum(n) AS n FROM training_labels GROUP BY 1
),
labels AS (
    SELECT label FROM day_counts UNION SELECT label FROM trailing_counts UNION SELECT label FROM training_counts
)
SELECT
    labels.label,
    coalesce(day_counts.n, 0) AS day_count,
    coalesce(trailing_counts.n, 0) AS trailing_count,
    coalesce(training_counts.n, 0) AS training_count
FROM labels
LEFT JOIN day_counts USING (label)
LEFT JOIN trailing_counts USING (label)
LEFT JOIN training_counts USING (label)
ORDER BY labels.label;
