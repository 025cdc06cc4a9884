-- How sure is the model today? Confidence (top class probability) in 0.05-wide bins,
-- and whether each bin is below the low-confidence threshold $low_confidence.
-- Reviews labelled 'empty_text' have no prediction and are left out. Views: scored_day.
SELECT
    least(floor(confidence * 20), 19) / 20 AS bin_start,
    least(floor(confidence * 20), 19) / 20 + 0.05 AS bin_end,
    count(*) AS reviews,
    count(*) / sum(count(*)) OVER () AS share,
    bool_and(confidence < $low_confidence) AS low_confidence
FROM scored_day
WHERE predicted_label <> 'empty_text'
GROUP BY 1, 2
ORDER BY 1;
