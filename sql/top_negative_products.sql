-- Which products drew the most negative reviews today, and what share of their reviews
-- is negative? Products with fewer than $min_support reviews that day are left out.
-- Reviews labelled 'empty_text' (no token to predict from) are left out. Views: scored_day.
SELECT
    coalesce(product_id, '(unknown)') AS product_id,
    count(*) AS reviews,
    count(*) FILTER (WHERE predicted_label = 'negative') AS negative,
    count(*) FILTER (WHERE predicted_label = 'negative') / count(*) AS negative_share,
    avg(p_negative) AS mean_p_negative
FROM scored_day
WHERE predicted_label <> 'empty_text'
GROUP BY 1
HAVING count(*) >= $min_support AND count(*) FILTER (WHERE predicted_label = 'negative') > 0
ORDER BY negative DESC, negative_share DESC, product_id
LIMIT $limit;
