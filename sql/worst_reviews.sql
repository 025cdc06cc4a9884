-- The day's most negative reviews of the given products (the most negative products):
-- the ones to explain. Views: scored_day (with p_most_negative), worst_products (product_id).
SELECT review_id, product_id, predicted_label, p_most_negative, top_tokens
FROM scored_day
WHERE coalesce(product_id, '(unknown)') IN (SELECT product_id FROM worst_products)
ORDER BY p_most_negative DESC, review_id
LIMIT $limit;
