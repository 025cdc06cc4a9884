-- How many of the day's reviews gave the model no token (only whitespace, zero-width
-- characters or punctuation)? They are labelled 'empty_text', not predicted, and kept out
-- of every class share: reviews = the class counts + this count.
-- Views: scored_day.
SELECT count(*) FILTER (WHERE predicted_label = 'empty_text') AS empty_text
FROM scored_day;
