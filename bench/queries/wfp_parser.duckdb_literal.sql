-- bench/compare.sh query "wfp_parser", DuckDB: a hand-written SQL equivalent of the parser's main columns
-- (not a literal translation of its 40 output columns: the source and destination ends, host, application,
-- process, result, action, direction and protocol), then the number of rows. With the parameters at their
-- defaults the parser's filters keep every 5152/5154/5156/5157/5158 audit of the Security-Auditing provider.
WITH fields AS (
  SELECT TimeGenerated, EventID, Computer,
         coalesce(json_extract_string(EventData, '$.ProcessID'), '') AS ProcessID,
         coalesce(json_extract_string(EventData, '$.ProcessId'), '') AS ProcessId,
         coalesce(json_extract_string(EventData, '$.Application'), '') AS Application,
         coalesce(json_extract_string(EventData, '$.Direction'), '') AS Direction,
         coalesce(json_extract_string(EventData, '$.SourceAddress'), '') AS SourceAddress,
         TRY_CAST(json_extract_string(EventData, '$.SourcePort') AS INTEGER) AS SourcePort,
         coalesce(json_extract_string(EventData, '$.DestAddress'), '') AS DestAddress,
         TRY_CAST(json_extract_string(EventData, '$.DestPort') AS INTEGER) AS DestPort,
         TRY_CAST(json_extract_string(EventData, '$.Protocol') AS INTEGER) AS Protocol
  FROM read_parquet('{path}')
  WHERE EventID IN (5152, 5154, 5156, 5157, 5158) AND Provider = 'Microsoft-Windows-Security-Auditing'
), way AS (
  SELECT *,
         CASE WHEN EventID IN (5154, 5158) THEN 'Local' WHEN Direction = '%%14593' THEN 'Outbound'
              WHEN Direction = '%%14592' THEN 'Inbound' ELSE 'Local' END AS Way,
         CASE WHEN ProcessID <> '' THEN ProcessID ELSE ProcessId END AS Pid,
         split_part(Computer, '.', 1) AS Host
  FROM fields
), parsed AS (
  SELECT TimeGenerated,
         CASE WHEN Way = 'Inbound' THEN DestAddress ELSE SourceAddress END AS SrcIpAddr,
         CASE WHEN Way = 'Inbound' THEN DestPort ELSE SourcePort END AS SrcPortNumber,
         CASE WHEN Way = 'Inbound' THEN SourceAddress ELSE DestAddress END AS DstIpAddr,
         CASE WHEN Way = 'Inbound' THEN SourcePort ELSE DestPort END AS DstPortNumber,
         CASE WHEN Way = 'Inbound' THEN '' ELSE Host END AS SrcHostname,
         CASE WHEN Way = 'Inbound' THEN Host ELSE '' END AS DstHostname,
         CASE WHEN Way = 'Inbound' THEN '' ELSE Application END AS SrcAppName,
         CASE WHEN Way = 'Inbound' THEN Application ELSE '' END AS DstAppName,
         CASE WHEN Way = 'Inbound' THEN '' ELSE Pid END AS SrcProcessId,
         CASE WHEN Way = 'Inbound' THEN Pid ELSE '' END AS DstProcessId,
         CASE WHEN EventID IN (5154, 5156, 5158) THEN 'Success' ELSE 'Failure' END AS EventResult,
         CASE WHEN EventID IN (5154, 5156, 5158) THEN 'Allow' WHEN EventID = 5152 THEN 'Drop' ELSE 'Deny' END AS DvcAction,
         CASE WHEN Way = 'Local' THEN 'NA' ELSE Way END AS NetworkDirection,
         CASE Protocol WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 1 THEN 'ICMP' WHEN 58 THEN 'ICMPv6'
              ELSE CAST(Protocol AS VARCHAR) END AS NetworkProtocol,
         Host AS Dvc
  FROM way
)
SELECT count(*) AS Count FROM parsed
