-- bench/compare.sh query "dynamic", DuckDB, literal: EventData is a JSON text in the Parquet file; each field
-- with json_extract_string (tostring() of a missing field is "" in Kusto: coalesce; toint() of a text that
-- is no number is null: TRY_CAST), then the number of groups.
SELECT count(*) AS Count
FROM (
  SELECT coalesce(json_extract_string(EventData, '$.SourceAddress'), '') AS SrcIpAddr,
         coalesce(json_extract_string(EventData, '$.DestAddress'), '') AS DstIpAddr,
         TRY_CAST(json_extract_string(EventData, '$.DestPort') AS INTEGER) AS DstPortNumber,
         count(*) AS count_
  FROM read_parquet('{path}')
  WHERE EventID = 5156
  GROUP BY ALL
)
