-- Sentiment per day over the trailing window, the report day included: counts and shares.
-- Views: scored_trend (the window's scored rows, one row per review).
SELECT
    scored_date AS day,
    count(*) AS reviews,
    count(*) FILTER (WHERE predicted_label = 'negative') AS negative,
    count(*) FILTER (WHERE predicted_label = 'neutral') AS neutral,
    count(*) FILTER (WHERE predicted_label = 'positive') AS positive,
    count(*) FILTER (WHERE predicted_label = 'negative') / count(*) AS negative_share,
    count(*) FILTER (WHERE predicted_label = 'positive') / count(*) AS positive_share,
    avg(confidence) AS mean_confidence
FROM scored_trend
GROUP BY scored_date
ORDER BY scored_date;
