-- The distribution of each class's predicted probability, today and over the trailing
-- window: counts in 10 equal bins of [0, 1] (drift of the model's beliefs, not only of
-- its argmax). Views: scored_probabilities (period, class, p): one row per review and class.
SELECT
    period,
    class,
    least(floor(p * 10), 9)::INTEGER AS bin,
    count(*) AS reviews
FROM scored_probabilities
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
