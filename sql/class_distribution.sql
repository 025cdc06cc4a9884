-- How are the day's predictions split across classes, compared with the trailing
-- 30 days before it and with the training data?
-- Views: scored_day, scored_window (trailing days, excluding the day),
-- training_labels (label, n): the champion's training split. Reviews labelled 'empty_text'
-- (no token to predict from) are in no class: sql/empty_text.sql counts them.
WITH labels(label) AS (VALUES ('negative'), ('neutral'), ('positive')),
day_counts AS (
    SELECT predicted_label AS label, count(*) AS n FROM scored_day GROUP BY 1
),
trailing_counts AS (
    SELECT predicted_label AS label, count(*) AS n FROM scored_window GROUP BY 1
),
training_counts AS (
    SELECT label, sum(n) AS n FROM training_labels GROUP BY 1
)
SELECT
    labels.label,
    coalesce(day_counts.n, 0) AS day_count,
    coalesce(day_counts.n, 0) / greatest(sum(coalesce(day_counts.n, 0)) OVER (), 1) AS day_share,
    coalesce(trailing_counts.n, 0) AS trailing_count,
    coalesce(trailing_counts.n, 0) / greatest(sum(coalesce(trailing_counts.n, 0)) OVER (), 1) AS trailing_share,
    coalesce(training_counts.n, 0) AS training_count,
    coalesce(training_counts.n, 0) / greatest(sum(coalesce(training_counts.n, 0)) OVER (), 1) AS training_share
FROM labels
LEFT JOIN day_counts USING (label)
LEFT JOIN trailing_counts USING (label)
LEFT JOIN training_counts USING (label)
ORDER BY CASE labels.label WHEN 'negative' THEN 0 WHEN 'neutral' THEN 1 ELSE 2 END;
