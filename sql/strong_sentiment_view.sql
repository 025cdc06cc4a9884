-- The scored rows with the report's flags: p_most_negative (the first class's
-- probability) and strongly negative / strongly positive. A one-class-per-star model's
-- own extreme classes (1 and 5 stars) are its strong view; a 3-class model's is a high
-- probability of the extreme class. Filled in by the report: name (the view), source
-- (the raw view), p_first / p_last (the quoted first and last probability columns),
-- strong_probability (ReportThresholds.strong_probability).
CREATE VIEW {name} AS
SELECT
    *,
    {p_first} AS p_most_negative,
    coalesce(predicted_stars = 1, {p_first} >= {strong_probability}) AS strongly_negative,
    coalesce(predicted_stars = 5, {p_last} >= {strong_probability}) AS strongly_positive
FROM {source};
