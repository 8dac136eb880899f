-- bench/compare.sh query "join", DuckDB, literal: the two hunts as CTEs (the second one's distinct as a
-- GROUP BY, then a count per source), an inner join on SrcIpAddr, one summary row.
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
