-- When the batch carries star ratings: predicted class against the stars
-- (1-2 negative, 3 neutral, 4-5 positive), as a confusion matrix in long form.
-- Reviews labelled 'empty_text' have no prediction and are left out. Views: scored_day.
SELECT
    CASE WHEN rating <= 2 THEN 'negative' WHEN rating = 3 THEN 'neutral' ELSE 'positive' END AS true_label,
    predicted_label,
    count(*) AS reviews
FROM scored_day
WHERE rating BETWEEN 1 AND 5 AND predicted_label <> 'empty_text'
GROUP BY 1, 2
ORDER BY 1, 2;
