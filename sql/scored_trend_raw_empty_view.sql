-- No scored part in the window nor on the day: the trend's columns, no rows.
CREATE VIEW scored_trend_raw AS SELECT *, CAST(NULL AS DATE) AS scored_date FROM scored_empty;
