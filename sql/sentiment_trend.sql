-- Sentiment per day over the trailing window, the report day included: counts and shares
-- (shares of the predicted reviews: those labelled 'empty_text' had no token to predict from).
-- Views: scored_trend (the window's scored rows, one row per review).
SELECT
    scored_date AS day,
    count(*) AS reviews,
    count(*) FILTER (WHERE predicted_label = 'negative') AS negative,
    count(*) FILTER (WHERE predicted_label = 'neutral') AS neutral,
    count(*) FILTER (WHERE predicted_label = 'positive') AS positive,
    count(*) FILTER (WHERE predicted_label = 'empty_text') AS empty_text,
    count(*) FILTER (WHERE predicted_label = 'negative') / greatest(count(*) FILTER (WHERE predicted_label <> 'empty_text'), 1) AS negative_share,
    count(*) FILTER (WHERE predicted_label = 'positive') / greatest(count(*) FILTER (WHERE predicted_label <> 'empty_text'), 1) AS positive_share,
    avg(confidence) FILTER (WHERE predicted_label <> 'empty_text') AS mean_confidence
FROM scored_trend
GROUP BY scored_date
ORDER BY scored_date;
