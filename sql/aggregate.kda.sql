-- Per-sensor one-minute aggregates (the lab's step 5) in Kinesis Analytics SQL.
-- Uses a tumbling window on ROWTIME (STEP) rather than the lab's FLOOR/SUBSTRING text,
-- which the SQL dialect does not accept.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    "sensor_id"         VARCHAR(16),
    "avg_temperature"   DOUBLE,
    "min_temperature"   DOUBLE,
    "max_temperature"   DOUBLE,
    "avg_humidity"      DOUBLE,
    "window_start_time" TIMESTAMP,
    "window_end_time"   TIMESTAMP
);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM
    "sensor_id",
    AVG("temperature"),
    MIN("temperature"),
    MAX("temperature"),
    AVG("humidity"),
    STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE),
    STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE) + INTERVAL '1' MINUTE
FROM "SOURCE_SQL_STREAM_001"
GROUP BY
    "sensor_id",
    STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
