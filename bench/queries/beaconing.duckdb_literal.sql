-- bench/compare.sh query "beaconing", DuckDB, literal: the rule's steps one for one (the SQL that was
-- in bench/beaconing_duckdb.py). Same window (ago(2d)..ago(1d) with now = 2024-05-03T00:00Z), same
-- filters (IPv4 destinations neither RFC 1918, link-local nor loopback), the same serialized next()
-- over (SrcIpAddr, TimeGenerated, DstIpAddr, DstPortNumber) as one unpartitioned window,
-- datetime_diff('second') as the count of second boundaries crossed, the same two summarize steps
-- (make_list kept as list()). {path} is the Parquet file.
WITH base AS (
  SELECT TimeGenerated, SrcIpAddr, SrcPortNumber, DstIpAddr, DstPortNumber, DstBytes, SrcBytes
  FROM read_parquet('{path}')
  WHERE TimeGenerated >= TIMESTAMPTZ '2024-05-01 00:00:00+00'
    AND TimeGenerated <= TIMESTAMPTZ '2024-05-02 00:00:00+00'
    AND regexp_full_match(DstIpAddr, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
    AND NOT (DstIpAddr LIKE '10.%' OR DstIpAddr LIKE '192.168.%'
             OR regexp_full_match(DstIpAddr, '172\.(1[6-9]|2[0-9]|3[01])\..*'))
    AND NOT (DstIpAddr LIKE '169.254.%' OR DstIpAddr LIKE '127.%')
), serialized AS (
  SELECT *,
    LEAD(TimeGenerated) OVER w AS nextTimeGenerated,
    LEAD(SrcIpAddr) OVER w AS nextSrcIpAddr
  FROM base
  WINDOW w AS (ORDER BY SrcIpAddr, TimeGenerated, DstIpAddr, DstPortNumber)
), deltas AS (
  SELECT *, CAST(floor(epoch_ns(nextTimeGenerated) / 1e9) - floor(epoch_ns(TimeGenerated) / 1e9) AS BIGINT) AS TimeDeltainSeconds
  FROM serialized
  WHERE SrcIpAddr = nextSrcIpAddr
), first_pass AS (
  SELECT TimeDeltainSeconds, time_bucket(INTERVAL 1 hour, TimeGenerated) AS TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber,
         count(*) AS count_, sum(DstBytes) AS sum_DstBytes, sum(SrcBytes) AS sum_SrcBytes, list(TimeDeltainSeconds) AS list_TimeDeltainSeconds
  FROM deltas
  WHERE TimeDeltainSeconds > 10
  GROUP BY ALL
), second_pass AS (
  SELECT time_bucket(INTERVAL 1 hour, TimeGenerated) AS TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber,
         max(count_) AS MostFrequentTimeDeltaCount, arg_max(TimeDeltainSeconds, count_) AS MostFrequentTimeDeltainSeconds,
         sum(count_) AS TotalEvents, sum(sum_SrcBytes) AS TotalSrcBytes, sum(sum_DstBytes) AS TotalDstBytes
  FROM first_pass
  GROUP BY ALL
)
SELECT *, MostFrequentTimeDeltaCount / TotalEvents::DOUBLE * 100 AS BeaconPercent
FROM second_pass
WHERE TotalEvents > 15 AND MostFrequentTimeDeltaCount / TotalEvents::DOUBLE * 100 > 80
