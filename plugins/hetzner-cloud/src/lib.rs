//! hetzner-cloud: the servers of one Hetzner Cloud project as resources, read from
//! `GET /v1/servers` (pages of 50 followed with `meta.pagination.next_page`).
//!
//! Why one project per account: a Hetzner Cloud API token belongs to exactly one Hetzner
//! project and sees nothing else, and the API has no call that names the project. So the
//! account is the Hetzner project, and its one Carbonaut project is named by the operator
//! (`project_name`, else the account's name). Server labels are kept on each resource instead
//! of becoming projects: they are free-form, optional and may change, while a project id must
//! stay stable.

mod api;
mod server;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, Settings,
};

use api::HetznerCloud;

struct Hetzner;

impl Plugin for Hetzner {
    fn metadata() -> Metadata {
        Metadata::new(
            "hetzner-cloud",
            env!("CARGO_PKG_VERSION"),
            "Servers of a Hetzner Cloud project (location, country, vCPUs, memory, server type).",
        )
        .secret_setting(
            "token",
            "API token of the Hetzner Cloud project (read-only is enough)",
            true,
        )
        .setting(
            "project_name",
            "Name of the project's servers in Carbonaut (default: the account's name)",
            false,
        )
        .setting("page_size", "Servers per page, 1 to 50 (default 50)", false)
        .setting(
            "base_url",
            "API base URL (default https://api.hetzner.cloud; another one is only reachable \
             where the host grants it, as in tests)",
            false,
        )
        // The one public endpoint of the API: the metadata tells the operator exactly which
        // origin to allow, and the token can never be sent anywhere else.
        .needs_http(api::DEFAULT_BASE_URL)
    }
}

impl Discovery for Hetzner {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        // No request: the answer depends on the settings alone, and the API's hourly budget
        // is better spent on the server listing (where a wrong token shows up as well).
        let cloud = HetznerCloud::new(&settings, &account)?;
        let name = cloud.project_name().to_owned();
        Ok(vec![Project {
            id: name.clone(),
            name,
            labels: vec![],
        }])
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let cloud = HetznerCloud::new(&settings, &account)?;
        // A project this account no longer has (renamed in the settings) holds nothing.
        if project.id != cloud.project_name() {
            return Ok(vec![]);
        }
        Ok(cloud.servers()?.iter().map(server::resource).collect())
    }
}

carbonaut_sdk::export!(Hetzner: discovery);
