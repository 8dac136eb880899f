-- bench/compare.sh query "join", DuckDB, best: the literal SQL. No faster spelling was found at 10M rows:
-- count(DISTINCT DstIpAddr) per source, and a semi join (IN / SEMI JOIN) instead of the inner join (the
-- second hunt has one row per source), were slower.
WITH RarePorts AS (
  SELECT SrcIpAddr, DstPortNumber, count(*) AS Events, sum(SrcBytes) AS Bytes
  FROM read_parquet('{path}')
  WHERE NetworkDirection = 'Outbound' AND DstPortNumber NOT IN (80, 443, 53, 123, 22, 8080)
  GROUP BY SrcIpAddr, DstPortNumber
), WideSources AS (
  SELECT SrcIpAddr, count(*) AS Destinations
  FROM (SELECT SrcIpAddr, DstIpAddr FROM read_parquet('{path}') GROUP BY SrcIpAddr, DstIpAddr)
  GROUP BY SrcIpAddr
  HAVING count(*) > 25
)
SELECT count(*) AS Pairs, sum(r.Events) AS Events, sum(r.Bytes) AS Bytes
FROM RarePorts r
JOIN WideSources w ON r.SrcIpAddr = w.SrcIpAddr
