//! kubernetes: the nodes of a cluster as resources, grouped into projects by node pool, read
//! from the API server's `GET /api/v1/nodes` (paginated with `limit` and `continue`).
//!
//! Why node pools and not namespaces: a node is cluster-scoped and is what draws the power;
//! namespaces share nodes, and splitting a node's energy between them needs pod usage, which
//! is a different provider's job.

mod api;
mod node;
mod quantity;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, Settings,
};

use api::Cluster;

struct Kubernetes;

impl Plugin for Kubernetes {
    fn metadata() -> Metadata {
        Metadata::new(
            "kubernetes",
            env!("CARGO_PKG_VERSION"),
            "Nodes of a Kubernetes cluster (region, zone, capacity, instance type), by node pool.",
        )
        .setting(
            "api_server",
            "API server URL, like https://k8s.example.com:6443, or http://127.0.0.1:8001 for `kubectl proxy`",
            true,
        )
        .secret_setting("token", "Bearer token of a service account that may list nodes", false)
        .setting(
            "pool_label",
            "Node label naming the node pool (default: the GKE, EKS, AKS and Karpenter labels)",
            false,
        )
        .setting("page_size", "Nodes per page (default 500)", false)
        // The server is the operator's: its origin comes from `api_server`, and the operator's
        // `allow_http` decides what is reachable.
        .needs_http("*")
    }
}

impl Discovery for Kubernetes {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        let cluster = Cluster::new(&settings, &account)?;
        let mut pools: Vec<String> = cluster
            .nodes()?
            .iter()
            .map(|n| cluster.pool_of(n))
            .collect();
        pools.sort();
        pools.dedup();
        Ok(pools
            .into_iter()
            .map(|pool| Project {
                id: pool.clone(),
                name: pool,
                labels: vec![],
            })
            .collect())
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let cluster = Cluster::new(&settings, &account)?;
        Ok(cluster
            .nodes()?
            .iter()
            .filter(|n| cluster.pool_of(n) == project.id)
            .map(node::resource)
            .collect())
    }
}

carbonaut_sdk::export!(Kubernetes: discovery);
