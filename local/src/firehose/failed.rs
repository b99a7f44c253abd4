//! Delivery streams the local stack answers as CREATING_FAILED until they are deleted,
//! for tests of the replace path. moto (5.2.5) makes every delivery stream ACTIVE at
//! once and has no failed state; on AWS a stream whose creation failed stays
//! CREATING_FAILED, with its FailureDescription, until DeleteDeliveryStream removes it
//! ("If the status of a Firehose stream is CREATING_FAILED, this status doesn't change,
//! and you can't invoke CreateDeliveryStream again on it. However, you can invoke the
//! DeleteDeliveryStream operation to delete it.", Firehose API Reference,
//! CreateDeliveryStream). Knows nothing about forwarding: the delivery asks it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// Names marked failed, with their FailureDescription (Type, Details).
#[derive(Default)]
pub struct Failed {
    marked: Mutex<HashMap<String, (String, String)>>,
}

impl Failed {
    /// Answer `name` as CREATING_FAILED with this FailureDescription from now on.
    pub fn mark(&self, name: &str, kind: &str, details: &str) {
        if let Ok(mut m) = self.marked.lock() {
            m.insert(name.to_string(), (kind.to_string(), details.to_string()));
        }
    }

    /// `name` was deleted: a new stream of that name is answered as it is.
    pub fn forget(&self, name: &str) {
        if let Ok(mut m) = self.marked.lock() {
            m.remove(name);
        }
    }

    pub fn is_marked(&self, name: &str) -> bool {
        self.marked.lock().is_ok_and(|m| m.contains_key(name))
    }

    /// A DescribeDeliveryStream answer for a marked stream made CREATING_FAILED, with its
    /// FailureDescription (members as in the Firehose API Reference,
    /// DeliveryStreamDescription and FailureDescription). False when not marked.
    pub fn patch(&self, name: &str, answer: &mut Value) -> bool {
        let Some((kind, details)) = self.marked.lock().ok().and_then(|m| m.get(name).cloned())
        else {
            return false;
        };
        let Some(d) = answer
            .get_mut("DeliveryStreamDescription")
            .and_then(Value::as_object_mut)
        else {
            return false;
        };
        d.insert("DeliveryStreamStatus".into(), json!("CREATING_FAILED"));
        d.insert(
            "FailureDescription".into(),
            json!({"Type": kind, "Details": details}),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_streams_are_failed_until_forgotten() {
        let f = Failed::default();
        let answer = json!({"DeliveryStreamDescription": {"DeliveryStreamName": "d", "DeliveryStreamStatus": "ACTIVE"}});
        let mut a = answer.clone();
        assert!(!f.patch("d", &mut a));
        f.mark("d", "UNKNOWN_ERROR", "Access was denied");
        assert!(f.patch("d", &mut a));
        assert_eq!(
            a["DeliveryStreamDescription"]["DeliveryStreamStatus"],
            "CREATING_FAILED"
        );
        assert_eq!(
            a["DeliveryStreamDescription"]["FailureDescription"]["Type"],
            "UNKNOWN_ERROR"
        );
        f.forget("d");
        let mut b = answer.clone();
        assert!(!f.patch("d", &mut b));
        assert_eq!(b, answer);
    }
}
