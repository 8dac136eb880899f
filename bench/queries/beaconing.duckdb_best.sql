-- bench/compare.sh query "beaconing", DuckDB, best: the fastest correct SQL of the rule's logic found (the
-- same rows as kql and the literal SQL). Differences from the literal: (1) next() as LEAD over a window
-- PARTITION BY SrcIpAddr (the last row of a source gets NULL, which the delta filter drops, as the
-- literal's nextSrcIpAddr test does), so sources are sorted in parallel; (2) only the sources that have
-- some (hour, destination, port) with more than 15 rows in the window go through the window: a result row
-- needs TotalEvents > 15 rows of its key, so no other source can reach the output; (3) no list() that
-- the output does not use; (4) datetime_diff('second') on whole microseconds (epoch_us // 10^6).
WITH base AS (
  SELECT TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber, DstBytes, SrcBytes
  FROM read_parquet('{path}')
  WHERE TimeGenerated BETWEEN TIMESTAMPTZ '2024-05-01 00:00:00+00' AND TIMESTAMPTZ '2024-05-02 00:00:00+00'
    AND NOT (DstIpAddr LIKE '10.%' OR DstIpAddr LIKE '192.168.%' OR DstIpAddr LIKE '169.254.%' OR DstIpAddr LIKE '127.%')
    AND NOT regexp_full_match(DstIpAddr, '172\.(1[6-9]|2[0-9]|3[01])\..*')
    AND regexp_full_match(DstIpAddr, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
), candidates AS (
  SELECT DISTINCT SrcIpAddr FROM (
    SELECT SrcIpAddr FROM base
    GROUP BY time_bucket(INTERVAL 1 hour, TimeGenerated), SrcIpAddr, DstIpAddr, DstPortNumber
    HAVING count(*) > 15)
), deltas AS (
  SELECT * FROM (
    SELECT time_bucket(INTERVAL 1 hour, TimeGenerated) AS TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber, DstBytes, SrcBytes,
      epoch_us(LEAD(TimeGenerated) OVER (PARTITION BY SrcIpAddr ORDER BY TimeGenerated, DstIpAddr, DstPortNumber)) // 1000000
        - epoch_us(TimeGenerated) // 1000000 AS TimeDeltainSeconds
    FROM base SEMI JOIN candidates USING (SrcIpAddr))
  WHERE TimeDeltainSeconds > 10
), first_pass AS (
  SELECT TimeDeltainSeconds, TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber,
         count(*) AS count_, sum(DstBytes) AS sum_DstBytes, sum(SrcBytes) AS sum_SrcBytes
  FROM deltas
  GROUP BY ALL
)
SELECT TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber,
       max(count_) AS MostFrequentTimeDeltaCount, arg_max(TimeDeltainSeconds, count_) AS MostFrequentTimeDeltainSeconds,
       sum(count_) AS TotalEvents, sum(sum_SrcBytes) AS TotalSrcBytes, sum(sum_DstBytes) AS TotalDstBytes,
       max(count_) / sum(count_)::DOUBLE * 100 AS BeaconPercent
FROM first_pass
GROUP BY TimeGenerated, SrcIpAddr, DstIpAddr, DstPortNumber
HAVING sum(count_) > 15 AND max(count_) / sum(count_)::DOUBLE * 100 > 80
