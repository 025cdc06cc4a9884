-- Sentiment per day over the trailing window, the report day included: reviews per
-- predicted label, strongly negative / strongly positive reviews (flags computed from
-- the probabilities by the report), and mean confidence.
-- Views: scored_trend (the window's scored rows, one row per review, with the flags).
SELECT
    scored_date AS day,
    predicted_label AS label,
    count(*) AS reviews,
    count(*) FILTER (WHERE strongly_negative) AS strongly_negative,
    count(*) FILTER (WHERE strongly_positive) AS strongly_positive,
    sum(confidence) AS confidence_sum
FROM scored_trend
GROUP BY 1, 2
ORDER BY 1, 2;
