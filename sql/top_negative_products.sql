-- Which products drew the largest share of negative reviews today? Ranked by that share
-- (2 of 3 negative ranks above 5 of 38), then by the count; products with fewer than
-- $min_support reviews that day are left out (a share of 1 review says little), and so
-- are reviews labelled 'empty_text' (no token: no prediction to count).
-- Views: scored_day (with p_most_negative: the most negative class's probability),
-- negative_labels (label): the classes that count as negative.
SELECT
    coalesce(product_id, '(unknown)') AS product_id,
    count(*) AS reviews,
    count(*) FILTER (WHERE predicted_label IN (SELECT label FROM negative_labels)) AS negative,
    count(*) FILTER (WHERE predicted_label IN (SELECT label FROM negative_labels)) / count(*) AS negative_share,
    avg(p_most_negative) AS mean_p_negative
FROM scored_day
WHERE predicted_label <> 'empty_text'
GROUP BY 1
HAVING count(*) >= $min_support AND count(*) FILTER (WHERE predicted_label IN (SELECT label FROM negative_labels)) > 0
ORDER BY negative_share DESC, negative DESC, product_id
LIMIT $limit;
