//! Placeholder for kinds declared in the spec that this version cannot provision
//! yet. The engine shows them as "not built yet" and never calls AWS for them.

use anyhow::{bail, Result};
use async_trait::async_trait;

use super::model::{Ctx, Observed, Present, Resource};

pub struct Unbuilt {
    pub kind: &'static str,
    pub name: String,
}

#[async_trait]
impl Resource for Unbuilt {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn built(&self) -> bool {
        false
    }
    async fn observe(&self, _: &Ctx) -> Result<Observed> {
        bail!("labctl cannot manage {} resources yet", self.kind)
    }
    async fn create(&self, _: &Ctx) -> Result<()> {
        bail!("labctl cannot create {} resources yet", self.kind)
    }
    async fn update(&self, _: &Ctx, _: &Present) -> Result<()> {
        bail!("labctl cannot update {} resources yet", self.kind)
    }
    async fn delete(&self, _: &Ctx, _: &Present) -> Result<()> {
        bail!("labctl cannot delete {} resources yet", self.kind)
    }
}
