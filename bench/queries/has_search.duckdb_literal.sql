-- bench/compare.sh query "has_search", DuckDB, literal: `has` as Kusto defines it (the term, case-insensitive,
-- with no letter or digit either side of it) as a case-insensitive regular expression; `contains` (a
-- case-insensitive substring) as ILIKE.
SELECT count(*) AS Count
FROM read_parquet('{path}')
WHERE regexp_matches(SrcHostname, '(^|[^[:alnum:]])fin([^[:alnum:]]|$)', 'i')
   OR DstIpAddr ILIKE '%185.220.%'
