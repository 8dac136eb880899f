-- bench/compare.sh query "summarize4", DuckDB, literal: the KQL's steps one for one. `between` includes
-- both ends; bin(TimeGenerated, 1h) is time_bucket (floors to the hour, in UTC); `| count` counts the groups.
SELECT count(*) AS Count
FROM (
  SELECT SrcIpAddr, DstIpAddr, DstPortNumber, time_bucket(INTERVAL 1 hour, TimeGenerated) AS TimeGenerated, count(*) AS Events
  FROM read_parquet('{path}')
  WHERE TimeGenerated BETWEEN TIMESTAMPTZ '2024-05-01 00:00:00+00' AND TIMESTAMPTZ '2024-05-02 00:00:00+00'
    AND DstPortNumber != 443
  GROUP BY SrcIpAddr, DstIpAddr, DstPortNumber, time_bucket(INTERVAL 1 hour, TimeGenerated)
)
