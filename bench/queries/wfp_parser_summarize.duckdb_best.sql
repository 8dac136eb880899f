-- bench/compare.sh query "wfp_parser_summarize", DuckDB, best: only the columns the summary needs, the JSON
-- text parsed once per row (one json_extract_string with a list of paths); the same logic as the literal.
WITH f AS (
  SELECT EventID,
         json_extract_string(EventData, ['$.Direction', '$.SourceAddress', '$.DestAddress', '$.SourcePort',
                                         '$.DestPort', '$.Protocol', '$.Application']) AS j
  FROM read_parquet('{path}')
  WHERE EventID IN (5152, 5154, 5156, 5157, 5158) AND Provider = 'Microsoft-Windows-Security-Auditing'
), w AS (
  SELECT EventID, j,
         CASE WHEN EventID IN (5154, 5158) THEN 'Local' WHEN j[1] = '%%14593' THEN 'Outbound'
              WHEN j[1] = '%%14592' THEN 'Inbound' ELSE 'Local' END AS Way,
         TRY_CAST(j[6] AS INTEGER) AS Protocol
  FROM f
)
SELECT CASE WHEN EventID IN (5154, 5156, 5158) THEN 'Allow' WHEN EventID = 5152 THEN 'Drop' ELSE 'Deny' END AS DvcAction,
       CASE WHEN Way = 'Local' THEN 'NA' ELSE Way END AS NetworkDirection,
       CASE Protocol WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 1 THEN 'ICMP' WHEN 58 THEN 'ICMPv6'
            ELSE CAST(Protocol AS VARCHAR) END AS NetworkProtocol,
       count(*) AS Events,
       count(DISTINCT coalesce(CASE WHEN Way = 'Inbound' THEN j[3] ELSE j[2] END, '')) AS Sources,
       count(DISTINCT TRY_CAST(CASE WHEN Way = 'Inbound' THEN j[4] ELSE j[5] END AS INTEGER)) AS Ports,
       count(DISTINCT CASE WHEN Way = 'Inbound' THEN '' ELSE coalesce(j[7], '') END) AS Apps
FROM w
GROUP BY ALL
