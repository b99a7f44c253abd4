//! What a landed object holds: JSON records (gzip or not), whether each is a sensor
//! reading or a per-sensor aggregate, and the per-sensor table of the latest windows.
//! Must not know where the object came from (S3, the delivery, the check).

use serde_json::Value;

use super::model::SensorRow;

/// The lab's temperature range; readings outside it are flagged.
pub const TEMPERATURE_RANGE: (f64, f64) = (10.0, 40.0);

/// Parse concatenated or newline-separated JSON records (Firehose adds no separator).
/// Records cut at the read limit at the very end are ignored.
pub fn records(body: &[u8]) -> Result<Vec<Value>, String> {
    let body = maybe_gunzip(body);
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(&body).into_iter::<Value>();
    loop {
        match stream.next() {
            None => return Ok(out),
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if e.is_eof() && body.len() >= 262_144 => return Ok(out),
            Some(Err(e)) => {
                return Err(format!(
                    "record {} does not parse as JSON ({e})",
                    out.len() + 1
                ))
            }
        }
    }
}

/// The most a landed object's first bytes are decompressed to: the checks read the
/// first records, and a small object that inflates to gigabytes (a gzip bomb written
/// to the bucket) must not exhaust memory.
pub const GUNZIP_LIMIT: u64 = 16 << 20;

/// Firehose objects written with `compression: gzip` start with the gzip magic bytes.
fn maybe_gunzip(body: &[u8]) -> Vec<u8> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let d = flate2::read::MultiGzDecoder::new(body);
        // A range read may cut the stream: keep what decompressed, up to the limit.
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(d, GUNZIP_LIMIT), &mut out);
        out
    } else {
        body.to_vec()
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn number(v: &Value, name: &str) -> Option<f64> {
    field(v, name).and_then(|x| {
        x.as_f64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
}

/// Why a record is not a sensor reading, if it is not.
pub fn reading_problem(v: &Value) -> Option<String> {
    if field(v, "sensor_id").and_then(Value::as_str).is_none() {
        return Some("has no string sensor_id".into());
    }
    for f in ["temperature", "humidity", "pressure"] {
        if number(v, f).is_none() {
            return Some(format!("has no numeric {f}"));
        }
    }
    None
}

/// Why a record is not a per-sensor aggregate, if it is not.
pub fn aggregate_problem(v: &Value) -> Option<String> {
    if field(v, "sensor_id").and_then(Value::as_str).is_none() {
        return Some("has no string sensor_id".into());
    }
    for f in ["avg_temperature", "max_temperature"] {
        if number(v, f).is_none() {
            return Some(format!("has no numeric {f}"));
        }
    }
    None
}

/// Per sensor, the aggregate with the latest window end; flagged when out of range.
pub fn sensor_table(rows: &[Value]) -> Vec<SensorRow> {
    let mut table: Vec<SensorRow> = Vec::new();
    for r in rows {
        let Some(id) = field(r, "sensor_id").and_then(Value::as_str) else {
            continue;
        };
        let end = field(r, "window_end_time")
            .or_else(|| field(r, "window_end"))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default();
        let avg = number(r, "avg_temperature").unwrap_or(f64::NAN);
        let max = number(r, "max_temperature").unwrap_or(f64::NAN);
        let min = number(r, "min_temperature").unwrap_or(avg);
        let (lo, hi) = TEMPERATURE_RANGE;
        let flagged = max > hi || min < lo || avg > hi || avg < lo;
        let row = SensorRow {
            sensor_id: id.to_string(),
            window_end: end,
            avg_temperature: avg,
            max_temperature: max,
            flagged,
        };
        match table.iter_mut().find(|t| t.sensor_id == id) {
            Some(t) if row.window_end >= t.window_end => *t = row,
            Some(_) => {}
            None => table.push(row),
        }
    }
    table.sort_by(|a, b| a.sensor_id.cmp(&b.sensor_id));
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_bomb_decompresses_only_up_to_the_limit() {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            z.write_all(&zeros).expect("write");
        }
        let bomb = z.finish().expect("gzip");
        assert!(bomb.len() < 256 << 10, "{}", bomb.len());
        assert_eq!(maybe_gunzip(&bomb).len() as u64, GUNZIP_LIMIT);
    }
}
