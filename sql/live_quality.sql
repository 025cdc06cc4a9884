-- When the batch carries star ratings: the true class from the stars (star_labels maps
-- each star to the model's class) against the predicted class, per day of the trailing
-- window and the report day, as confusion counts in long form.
-- Views: scored_trend, star_labels (rating, label).
SELECT
    scored_trend.scored_date AS day,
    star_labels.label AS true_label,
    scored_trend.predicted_label,
    count(*) AS reviews
FROM scored_trend
JOIN star_labels ON scored_trend.rating = star_labels.rating
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
