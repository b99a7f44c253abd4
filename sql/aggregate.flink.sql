-- Per-sensor one-minute aggregates (the lab's step 5) in Flink SQL.
-- labctl fills in the connector options for the source and sink tables from the
-- spec (stream ARN, delivery stream name, region) when it packages the application.
INSERT INTO processed_sensor_data
SELECT
    sensor_id,
    AVG(temperature) AS avg_temperature,
    MIN(temperature) AS min_temperature,
    MAX(temperature) AS max_temperature,
    AVG(humidity) AS avg_humidity,
    DATE_FORMAT(window_start, 'yyyy-MM-dd HH:mm:ss') AS window_start_time,
    DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm:ss') AS window_end_time
FROM TABLE(
    TUMBLE(TABLE sensor_readings, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY sensor_id, window_start, window_end;
