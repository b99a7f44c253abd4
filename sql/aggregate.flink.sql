-- Per-sensor one-minute aggregates (the lab's step 5) in Flink SQL, for Managed
-- Service for Apache Flink. labctl packs this file into the application's zip; at
-- start, main.py fills each dollar-brace placeholder from the application's runtime
-- properties (group PipelineProperties, written by labctl from the spec) and runs the
-- statements, the INSERT as the job.

-- The lab's stream: one JSON sensor reading per record. Event time comes from the
-- reading's own ISO-8601 timestamp (with or without a trailing Z, any fraction).
-- The Kinesis table source of flink-connector-kinesis 4.3.0 (see flink/pom.xml): the
-- stream by name, the starting position LATEST or TRIM_HORIZON.
CREATE TABLE sensor_readings (
    sensor_id   STRING,
    `timestamp` STRING,
    temperature DOUBLE,
    humidity    DOUBLE,
    pressure    DOUBLE,
    event_time AS CAST(REPLACE(REPLACE(`timestamp`, 'T', ' '), 'Z', '') AS TIMESTAMP(3)),
    WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
    'connector' = 'kinesis',
    'stream' = '${input.stream.name}',
    'aws.region' = '${aws.region}',
    'scan.stream.initpos' = '${input.starting.position}',
    'format' = 'json',
    'json.ignore-parse-errors' = 'true'
);

-- The processed delivery stream: one JSON aggregate per record.
CREATE TABLE processed_sensor_data (
    sensor_id         STRING,
    avg_temperature   DOUBLE,
    min_temperature   DOUBLE,
    max_temperature   DOUBLE,
    avg_humidity      DOUBLE,
    window_start_time STRING,
    window_end_time   STRING
) WITH (
    'connector' = 'firehose',
    'delivery-stream' = '${output.delivery.stream}',
    'aws.region' = '${aws.region}',
    'format' = 'json'
);

-- One row per sensor and minute, emitted when the watermark passes the window's end.
INSERT INTO processed_sensor_data
SELECT
    sensor_id,
    AVG(temperature) AS avg_temperature,
    MIN(temperature) AS min_temperature,
    MAX(temperature) AS max_temperature,
    AVG(humidity)    AS avg_humidity,
    DATE_FORMAT(window_start, 'yyyy-MM-dd HH:mm:ss') AS window_start_time,
    DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm:ss')   AS window_end_time
FROM TABLE(
    TUMBLE(TABLE sensor_readings, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY sensor_id, window_start, window_end;
