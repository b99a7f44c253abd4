-- Per-sensor one-minute aggregates (the lab's step 5) in Kinesis Analytics SQL, for
-- `engine: kinesis-analytics-sql`. The input columns are the spec's `input.schema`
-- (by default the lab's record: "sensor_id", "COL_timestamp", "temperature",
-- "humidity", "pressure"; discovery names `timestamp` COL_timestamp too, as it is a
-- reserved word). Lowercase column names are quoted identifiers.
-- The window is a tumbling one-minute window on ROWTIME (the time the record reached
-- the application) with STEP, the documented construct; the lab's FLOOR/SUBSTRING
-- text is not valid in this dialect. The Flink version (sql/aggregate.flink.sql)
-- windows on the reading's own timestamp instead.
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
