-- bench/compare.sh query "wfp_parser", DuckDB, best: the parser's defaults filter nothing but the event IDs and
-- the provider, and `| count` uses none of its columns: the filter and a count.
SELECT count(*) AS Count
FROM read_parquet('{path}')
WHERE EventID IN (5152, 5154, 5156, 5157, 5158) AND Provider = 'Microsoft-Windows-Security-Auditing'
