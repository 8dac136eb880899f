-- bench/compare.sh query "has_search", DuckDB, best: the same predicates, cheaper first. `has "fin"` keeps its
-- regular expression but only after ILIKE '%fin%' (every term match is a substring match); contains
-- "185.220." has no letter, so lowering changes nothing and it is the plain substring test contains().
SELECT count(*) AS Count
FROM read_parquet('{path}')
WHERE contains(DstIpAddr, '185.220.')
   OR (SrcHostname ILIKE '%fin%' AND regexp_matches(SrcHostname, '(^|[^[:alnum:]])fin([^[:alnum:]]|$)', 'i'))
