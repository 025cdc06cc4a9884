-- How many reviews were scored on the day, and how many of them by a one-class-per-star
-- model (predicted_stars set)? Views: scored_day_raw.
SELECT count(*) AS reviews, count(predicted_stars) AS star_predictions FROM scored_day_raw;
