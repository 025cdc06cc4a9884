-- A one-class-per-star model's day, one row per star 1..5: reviews the model put on the
-- star, reviews the reviewers gave it, and those where both agree.
-- Views: scored_day (the day's scored rows; predicted_stars is null for 3-class models).
SELECT
    s.stars,
    count(d.predicted_stars) FILTER (WHERE d.predicted_stars = s.stars) AS predicted,
    count(d.rating) FILTER (WHERE d.rating = s.stars) AS rated,
    count(*) FILTER (WHERE d.rating = s.stars AND d.predicted_stars = s.stars) AS exact
FROM range(1, 6) AS s(stars)
CROSS JOIN (SELECT predicted_stars, rating FROM scored_day WHERE predicted_stars IS NOT NULL) AS d
GROUP BY s.stars
ORDER BY s.stars;
