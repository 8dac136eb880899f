-- bench/compare.sh query "dynamic", DuckDB, best: the three fields in one json_extract_string call with a list
-- of paths (the JSON text is parsed once per row instead of three times); the same conversions as the literal.
SELECT count(*) AS Count
FROM (
  SELECT coalesce(f[1], '') AS SrcIpAddr, coalesce(f[2], '') AS DstIpAddr, TRY_CAST(f[3] AS INTEGER) AS DstPortNumber
  FROM (SELECT json_extract_string(EventData, ['$.SourceAddress', '$.DestAddress', '$.DestPort']) AS f
        FROM read_parquet('{path}')
        WHERE EventID = 5156)
  GROUP BY ALL
)
