-- How many reviews gave each star, today and over the trailing window (rated reviews
-- only)? The monitor compares the mixes: a rating pipeline bug (every review 5 stars)
-- shows here before anywhere else. Views: scored_day, scored_window.
SELECT 'day' AS period, rating, count(*) AS reviews
FROM scored_day
WHERE rating IS NOT NULL
GROUP BY 1, 2
UNION ALL
SELECT 'trailing' AS period, rating, count(*) AS reviews
FROM scored_window
WHERE rating IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
