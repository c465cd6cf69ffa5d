//! Intensity forecasts kept across restarts: one tree (`forecasts`) in the state database,
//! one JSON value per location key, with the provider instance that made it (a forecast is
//! kept per provider and location: one from a provider no longer configured is not served).
//! A forecast is small (at most a few thousand points) and written only when a newer one
//! arrives, so JSON's size does not matter and keeps the records readable with any sled tool.
//! A record that cannot be read is dropped with a warning: the next forecast replaces it.

use std::collections::BTreeMap;

use carbonaut_model::IntensityForecast;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ForecastStoreError {
    #[error("the forecast store failed: {0}")]
    Storage(#[from] sled::Error),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("forecast of `{location}` cannot be encoded: {source}")]
    Encode {
        location: String,
        source: serde_json::Error,
    },
}

/// A forecast and the provider instance that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcedForecast {
    pub provider: String,
    pub forecast: IntensityForecast,
}

/// A handle on the forecast tree.
#[derive(Clone)]
pub struct ForecastStore {
    tree: sled::Tree,
}

impl ForecastStore {
    pub fn new(tree: sled::Tree) -> Self {
        ForecastStore { tree }
    }

    /// The stored forecasts that still reach past `now_ms`; the rest are removed.
    pub fn load(
        &self,
        now_ms: u64,
    ) -> Result<BTreeMap<String, SourcedForecast>, ForecastStoreError> {
        let mut out = BTreeMap::new();
        for item in self.tree.iter() {
            let (key, value) = item?;
            let location = String::from_utf8_lossy(&key).into_owned();
            match serde_json::from_slice::<SourcedForecast>(&value) {
                Ok(f) if reaches_past(&f.forecast, now_ms) => {
                    out.insert(location, f);
                }
                Ok(_) => {
                    self.tree.remove(&key)?;
                }
                Err(error) => {
                    tracing::warn!(%location, %error, "a stored forecast cannot be read; dropped until the next one");
                    self.tree.remove(&key)?;
                }
            }
        }
        Ok(out)
    }

    /// Stores `forecasts` by location key, replacing what was stored for those locations, and
    /// removes the forecasts of `dropped` locations.
    pub fn save<'a>(
        &self,
        forecasts: impl IntoIterator<Item = (&'a str, &'a SourcedForecast)>,
        dropped: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ForecastStoreError> {
        let mut batch = sled::Batch::default();
        for location in dropped {
            batch.remove(location.as_bytes());
        }
        for (location, f) in forecasts {
            let bytes = serde_json::to_vec(f).map_err(|source| ForecastStoreError::Encode {
                location: location.to_owned(),
                source,
            })?;
            batch.insert(location.as_bytes(), bytes);
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

fn reaches_past(f: &IntensityForecast, now_ms: u64) -> bool {
    f.points
        .last()
        .is_some_and(|p| p.starts_at + p.duration_ms > now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::{EmissionFactorType, ForecastPoint};

    fn forecast(generated_at: u64, until: u64) -> SourcedForecast {
        SourcedForecast {
            provider: "grid".into(),
            forecast: IntensityForecast {
                location_id: "DE".into(),
                zone: Some("DE".into()),
                emission_factor: EmissionFactorType::Lifecycle,
                generated_at,
                points: vec![ForecastPoint {
                    starts_at: until - 3_600_000,
                    duration_ms: 3_600_000,
                    carbon_intensity: 321.5,
                }],
            },
        }
    }

    #[test]
    fn forecasts_survive_a_reopen_and_expired_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let now = 1_800_000_000_000;
        {
            let db = sled::open(dir.path()).expect("open");
            let store = ForecastStore::new(db.open_tree("forecasts").expect("tree"));
            let live = forecast(now - 60_000, now + 3_600_000);
            let old = forecast(now - 7_200_000, now - 1);
            store
                .save([("DE", &live), ("FR", &old), ("NO", &live)], [])
                .expect("saved");
            store.save([], ["NO"]).expect("removed");
            db.open_tree("forecasts")
                .expect("tree")
                .insert("SE", b"not json".as_slice())
                .expect("garbage");
            db.flush().expect("flush");
        }
        let db = sled::open(dir.path()).expect("reopen");
        let store = ForecastStore::new(db.open_tree("forecasts").expect("tree"));
        let loaded = store.load(now).expect("loaded");
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["DE"]);
        assert_eq!(loaded["DE"], forecast(now - 60_000, now + 3_600_000));
        assert_eq!(
            db.open_tree("forecasts").expect("tree").len(),
            1,
            "the expired and the unreadable records are removed"
        );
    }
}
